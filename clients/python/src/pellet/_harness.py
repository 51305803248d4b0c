"""Starts a local pelletd with three pellet-mock-provider processes in a temporary directory,
for the tests and `python -m pellet.bench`. The binaries are those of the repository's Swift build
($PELLET_BIN_DIR, else .build/debug or .build/release of the checkout this file is in)."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional, Sequence

PROVIDERS = ("together", "fireworks", "groq")
ADMIN_TOKEN = "test-admin-token"
START_TIMEOUT = 30.0


def repository_root() -> Path:
    """The checkout holding Package.swift: above the working directory, or above this file (an
    editable install)."""
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for directory in (start, *start.parents):
            if (directory / "Package.swift").exists():
                return directory
    raise RuntimeError("no Package.swift above the working directory: run from the Pellet checkout "
                       "or set PELLET_BIN_DIR")


def binary_directory() -> Path:
    """$PELLET_BIN_DIR (tools/test sets it), else the debug or release build of the checkout,
    else whatever `swift build --show-bin-path` names."""
    if os.environ.get("PELLET_BIN_DIR"):
        return Path(os.environ["PELLET_BIN_DIR"])
    root = repository_root()
    for configuration in ("debug", "release"):
        candidate = root / ".build" / configuration
        if (candidate / "pelletd").exists():
            return candidate
    shown = subprocess.run(["swift", "build", "--show-bin-path"], cwd=root, capture_output=True, text=True)
    return Path(shown.stdout.strip())


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
        self.process = subprocess.Popen([str(binary_directory() / "pellet-mock-provider"), "--name", name, "--threads", "1"],
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

    def __init__(self, data_dir: Path, mocks: Dict[str, MockProvider], extra: Sequence[str] = ()) -> None:
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
        arguments = [str(binary_directory() / "pelletd"), "--data-dir", str(self.data_dir), "--tcp", "127.0.0.1:0",
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




def start_mocks() -> Dict[str, MockProvider]:
    return {name: MockProvider(name) for name in PROVIDERS}
