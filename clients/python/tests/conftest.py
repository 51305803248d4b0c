"""Fixtures that run the real thing: three pellet-mock-provider processes and pelletd, in a
temporary directory, built by the Swift build of this repository."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

import pellet

REPOSITORY = Path(__file__).resolve().parents[3]
PROVIDERS = ("together", "fireworks", "groq")
ADMIN_TOKEN = "test-admin-token"
START_TIMEOUT = 30.0


def binary_directory() -> Path:
    """$PELLET_BIN_DIR (tools/test sets it), else the debug or release build of this checkout,
    else whatever `swift build --show-bin-path` names."""
    if os.environ.get("PELLET_BIN_DIR"):
        return Path(os.environ["PELLET_BIN_DIR"])
    for configuration in ("debug", "release"):
        candidate = REPOSITORY / ".build" / configuration
        if (candidate / "pelletd").exists():
            return candidate
    shown = subprocess.run(["swift", "build", "--show-bin-path"], cwd=REPOSITORY, capture_output=True, text=True)
    return Path(shown.stdout.strip())


BIN = binary_directory()


def read_line_matching(process: subprocess.Popen, stream, pattern: str, what: str) -> str:
    """Reads `stream` until a line matches `pattern`; the whole text so far goes in the failure."""
    seen: List[str] = []
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.5)
        if ready:
            line = stream.readline()
            if line:
                seen.append(line)
                if re.search(pattern, line):
                    return line
                continue
        if process.poll() is not None:
            break
    process.kill()
    raise RuntimeError(f"{what} did not start (exit {process.poll()}):\n{''.join(seen)}")


class MockProvider:
    def __init__(self, name: str) -> None:
        self.process = subprocess.Popen([str(BIN / "pellet-mock-provider"), "--name", name, "--threads", "1"],
                                        stdout=subprocess.PIPE, text=True)
        line = read_line_matching(self.process, self.process.stdout, r"listening on http://", name)
        self.url = line.split("listening on ")[1].strip()

    def set_behavior(self, spec: str) -> None:
        request = urllib.request.Request(f"{self.url}/_mock/behavior", data=spec.encode(), method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


class Pelletd:
    """One pelletd on a temp data directory: the Unix socket, and TCP on a port the kernel
    picks. `stop()` is a graceful SIGTERM; `start()` again serves the same data."""

    def __init__(self, data_dir: Path, mocks: Dict[str, MockProvider], extra: List[str] = ()) -> None:
        self.data_dir = data_dir
        self.mocks = mocks
        self.extra = list(extra)
        self.process: Optional[subprocess.Popen] = None
        self.tcp_port = 0
        self.log = ""

    @property
    def address(self) -> str:
        return f"unix:{self.data_dir}/pellet.sock"

    @property
    def tcp_address(self) -> str:
        return f"tcp://127.0.0.1:{self.tcp_port}"

    def start(self) -> "Pelletd":
        arguments = [str(BIN / "pelletd"), "--data-dir", str(self.data_dir), "--tcp", "127.0.0.1:0",
                     *self.extra]
        for name, mock in self.mocks.items():
            arguments += ["--provider-url", f"{name}={mock.url}"]
        environment = dict(os.environ, PELLET_ADMIN_TOKEN=ADMIN_TOKEN)
        environment.update({f"{name.upper()}_API_KEY": "mock-key" for name in PROVIDERS})
        self.process = subprocess.Popen(arguments, env=environment, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        line = read_line_matching(self.process, self.process.stderr, r" ready", "pelletd")
        port = re.search(r"tcp://[^ ]+:(\d+)", line)
        self.tcp_port = int(port.group(1)) if port else 0
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                _, rest = self.process.communicate(timeout=20)
                self.log += rest or ""
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@pytest.fixture(scope="session")
def mocks() -> Iterator[Dict[str, MockProvider]]:
    started = {name: MockProvider(name) for name in PROVIDERS}
    yield started
    for mock in started.values():
        mock.stop()


@pytest.fixture
def mock_behavior(mocks: Dict[str, MockProvider]) -> Iterator:
    """Sets every provider's default behaviour (e.g. "hang", "tps=50") for one test."""

    def set_all(spec: str) -> None:
        for mock in mocks.values():
            mock.set_behavior(spec)

    yield set_all
    set_all("ok")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, mocks: Dict[str, MockProvider]) -> Iterator[Pelletd]:
    """The pelletd most tests share."""
    pelletd = Pelletd(tmp_path_factory.mktemp("pellet-data"), mocks).start()
    yield pelletd
    pelletd.stop()


@pytest.fixture
def own_server(tmp_path: Path, mocks: Dict[str, MockProvider]) -> Iterator[Pelletd]:
    """A pelletd of the test's own, for tests that stop or restart it."""
    pelletd = Pelletd(tmp_path / "pellet-data", mocks)
    yield pelletd
    pelletd.stop(signal.SIGKILL)


def make_key(address: str) -> str:
    with pellet.Client(address, admin_token=ADMIN_TOKEN) as admin:
        account = admin.accounts.create(name="Test", email=f"t{time.monotonic_ns()}@example.com", plan="pro")
        return admin.keys.create(account.id, name="tests").secret


@pytest.fixture(scope="session")
def api_key(server: Pelletd) -> str:
    return make_key(server.address)


@pytest.fixture
def client(server: Pelletd, api_key: str) -> Iterator[pellet.Client]:
    with pellet.Client(server.address, api_key=api_key) as c:
        yield c


@pytest.fixture
def admin(server: Pelletd) -> Iterator[pellet.Client]:
    with pellet.Client(server.address, admin_token=ADMIN_TOKEN) as c:
        yield c
