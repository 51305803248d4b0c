"""Starts a local pelletd with three pellet-mock-provider processes in a temporary directory,
for the tests and `python -m pellet.bench`. The binaries are those of the repository's Swift build
($PELLET_BIN_DIR, else .build/debug or .build/release of the checkout this file is in)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
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


class OutputWatcher:
    """Drains a child's output pipe on a thread, so that the child never blocks on a full pipe,
    and finds the line that says it is ready. (Reading lines straight from the pipe after a
    select() misses lines that arrive in one chunk: the file object buffers them.)"""

    def __init__(self, process: subprocess.Popen, stream) -> None:  # type: ignore[type-arg]
        self.process = process
        self.lines: List[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._drain, args=(stream,), daemon=True).start()

    def _drain(self, stream) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.lines.append("")  # end of output
            self._changed.notify_all()

    def wait_for(self, pattern: str, what: str) -> str:
        """The first line matching `pattern`; the whole output so far goes in the failure."""
        deadline = time.monotonic() + START_TIMEOUT
        with self._changed:
            while True:
                for line in self.lines:
                    if line and re.search(pattern, line):
                        return line
                remaining = deadline - time.monotonic()
                if (self.lines and self.lines[-1] == "") or remaining <= 0:
                    break
                self._changed.wait(min(remaining, 0.5))
        self.process.kill()
        raise RuntimeError(f"{what} did not start (exit {self.process.poll()}):\n{''.join(self.lines)}")

    @property
    def text(self) -> str:
        with self._changed:
            return "".join(self.lines)


class MockProvider:
    def __init__(self, name: str) -> None:
        command = [str(binary_directory() / "pellet-mock-provider"), "--name", name, "--threads", "1"]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        line = OutputWatcher(self.process, self.process.stdout).wait_for(r"listening on http://", name)
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
        self.output: Optional[OutputWatcher] = None

    @property
    def address(self) -> str:
        return f"unix:{self.data_dir}/pellet.sock"

    @property
    def tcp_address(self) -> str:
        return f"tcp://127.0.0.1:{self.tcp_port}"

    def start(self) -> "Pelletd":
        arguments = [str(binary_directory() / "pelletd"), "--data-dir", str(self.data_dir), "--tcp", "127.0.0.1:0",
                     "--metrics-listen", "127.0.0.1:0",
                     *self.extra]
        for name, mock in self.mocks.items():
            arguments += ["--provider-url", f"{name}={mock.url}"]
        environment = dict(os.environ, PELLET_ADMIN_TOKEN=ADMIN_TOKEN)
        environment.update({f"{name.upper()}_API_KEY": "mock-key" for name in PROVIDERS})
        self.process = subprocess.Popen(arguments, env=environment, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        self.output = OutputWatcher(self.process, self.process.stderr)
        line = self.output.wait_for(r" ready", "pelletd")
        port = re.search(r"tcp://[^ ]+:(\d+)", line)
        self.tcp_port = int(port.group(1)) if port else 0
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None




def start_mocks() -> Dict[str, MockProvider]:
    return {name: MockProvider(name) for name in PROVIDERS}
