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


_postgres_passed = 0


def pytest_runtest_logreport(report):
    """Count PostgreSQL-marked tests that ran and passed (for .ci/run's report)."""
    global _postgres_passed
    if report.when == "call" and report.passed and "postgres" in report.keywords:
        _postgres_passed += 1


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"PostgreSQL tests passed: {_postgres_passed}")
    path = os.environ.get("CARBONTWIN_POSTGRES_COUNT_FILE")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            f.write(str(_postgres_passed))


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory):
    """The demo day in a SQLite store with footprints issued, built once per session
    (see ``tests/demo_store.py``); tests only read it."""
    from demo_store import build_demo_store

    return build_demo_store(tmp_path_factory.mktemp("demo-store"))
