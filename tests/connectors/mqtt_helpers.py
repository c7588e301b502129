"""Brokers for the MQTT tests: the shared Mosquitto on 127.0.0.1:1883, or one of a test's own."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

SHARED = ("127.0.0.1", 1883)


def unique(prefix: str) -> str:
    """A topic prefix / group / client id no other test (or engineer) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_shared_broker() -> None:
    """Fail (not skip) when the shared broker is down: `.ci/run` starts it."""
    assert reachable(*SHARED), (
        "Mosquitto is not listening on 127.0.0.1:1883; start it with "
        "'mosquitto -d -c /etc/mosquitto/mosquitto.conf' (.ci/run does)"
    )


class Mosquitto:
    """A Mosquitto process of the test's own on ``port`` (no persistence: a restart
    forgets every session, as a broker without a persistence file does)."""

    def __init__(self, port: int, folder: Path, *, extra: str = "") -> None:
        self.port = port
        self.folder = folder
        self.conf = folder / f"mosquitto-{port}.conf"
        folder.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            f"user root\nlog_dest stderr\nlog_type error\n{extra}"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen(
            [exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if reachable("127.0.0.1", self.port, 0.2):
                return
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto on port {self.port} exited: {err}")
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def wait_for(predicate, timeout: float = 10.0, step: float = 0.02) -> bool:  # noqa: ASYNC109
    """Poll ``predicate()`` until true or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return bool(predicate())
