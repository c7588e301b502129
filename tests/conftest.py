"""Shared fixtures: the demo factory, database URLs, free ports."""

from __future__ import annotations

import os
import socket

import pytest


def free_port() -> int:
    """An ephemeral TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def signer():
    """A signer with a fresh Ed25519 key (issuing signs every footprint)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from carbontwin.plugins.signing import Signer

    return Signer(Ed25519PrivateKey.generate())


@pytest.fixture
def sqlite_url(tmp_path):
    """URL of a fresh SQLite database file."""
    return f"sqlite:///{tmp_path / 'carbontwin.db'}"


@pytest.fixture
def postgres_url():
    """URL of the test PostgreSQL (CARBONTWIN_TEST_POSTGRES_URL); skips when unset.

    ``.ci/run`` sets the variable and starts the server, so in CI these tests run.
    """
    url = os.environ.get("CARBONTWIN_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("CARBONTWIN_TEST_POSTGRES_URL is not set")
    return url


# Tests that start servers, brokers, browsers or subprocesses and wait on the clock get the
# "serial" mark: the README's test command runs the others on every core (pytest-xdist,
# ``-m "not serial"``), then these two at a time (``-n 2 -m serial``): each spends much
# of its time waiting, and none shares the cores with the crowd of the first run.
SERIAL_MARKS = ("slow", "browser", "opcua", "mqtt")


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selects by marks
def pytest_collection_modifyitems(items):
    for item in items:
        if any(item.get_closest_marker(m) for m in SERIAL_MARKS):
            item.add_marker(pytest.mark.serial)


def is_xdist_worker(config) -> bool:
    return hasattr(config, "workerinput")


_postgres_passed = 0


def pytest_runtest_logreport(report):
    """Count PostgreSQL-marked tests that ran and passed (for .ci/run's report).

    Under xdist the controller receives every worker's reports here, so its count is
    the whole run's; the workers' own counts are not reported.
    """
    global _postgres_passed
    if report.when == "call" and report.passed and "postgres" in report.keywords:
        _postgres_passed += 1


_worker_summary: list[str] = []


@pytest.hookimpl(optionalhook=True)  # an xdist hook: the controller hears of a finished worker
def pytest_testnodedown(node, error):
    """Lines a worker left for the summary (where its screenshots are)."""
    _worker_summary.extend(getattr(node, "workeroutput", {}).get("carbontwin_summary", []))


def pytest_terminal_summary(terminalreporter, config):
    if is_xdist_worker(config):
        return
    for line in sorted(set(_worker_summary)):
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"PostgreSQL tests passed: {_postgres_passed}")
    path = os.environ.get("CARBONTWIN_POSTGRES_COUNT_FILE")
    if path:  # a line per pytest run: .ci/run adds up the runs of one test command
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{_postgres_passed}\n")


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory):
    """The demo day in a SQLite store with footprints issued, built once per session
    (see ``tests/demo_store.py``); tests only read it."""
    from demo_store import build_demo_store

    return build_demo_store(tmp_path_factory.mktemp("demo-store"))
