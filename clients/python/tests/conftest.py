"""Fixtures that run the real thing: three pellet-mock-provider processes and pelletd, in a
temporary directory, built by the Swift build of this repository (see pellet._harness)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Dict, Iterator

import pytest

import pellet
from pellet._harness import ADMIN_TOKEN, PROVIDERS, MockProvider, Pelletd, start_mocks

__all__ = ["ADMIN_TOKEN", "PROVIDERS", "Pelletd", "make_key"]


@pytest.fixture(scope="session")
def mocks() -> Iterator[Dict[str, MockProvider]]:
    started = start_mocks()
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


@pytest.fixture
def own_key(own_server: Pelletd) -> str:
    """Starts `own_server` and gives a key of a new account on it."""
    own_server.start()
    return make_key(own_server.address)


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
