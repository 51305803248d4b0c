"""Every status the server sends reaches the caller as its own exception class."""

from __future__ import annotations

import pickle

import pytest

import pellet
from pellet import _protocol as wire
from pellet._api import Call
from pellet.v1 import pellet_pb2 as pb
from conftest import Pelletd


def test_each_status_has_its_class() -> None:
    names = {cls.__name__: cls for cls in pellet.PelletError.__subclasses__()}
    assert len(names) == 16
    for code in range(1, 17):
        error = pellet._errors.error_for(code, "why", 7)
        assert isinstance(error, pellet.PelletError) and error.code == code
        assert error.status == pellet._errors.STATUS_NAMES[code]
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and again.retry_after_ms == 7
    unknown = pellet._errors.error_for(99, "from the future")
    assert isinstance(unknown, pellet.Unknown) and unknown.status == "UNKNOWN"


def test_unauthenticated(server: Pelletd) -> None:
    with pellet.Client(server.address, api_key="plt_notakey") as client, pytest.raises(pellet.Unauthenticated) as e:
        client.route("hello")
    assert e.value.status == "UNAUTHENTICATED" and e.value.code == 16 and e.value.message


def test_permission_denied_for_admin_ops_with_a_key(client: pellet.Client) -> None:
    with pytest.raises(pellet.PermissionDenied):
        client.accounts.list()


def test_not_found_and_already_exists(admin: pellet.Client) -> None:
    with pytest.raises(pellet.NotFound):
        admin.accounts.get("acc_doesnotexist")
    admin.accounts.create(name="Twin", email="twin@example.com")
    with pytest.raises(pellet.AlreadyExists):
        admin.accounts.create(name="Twin again", email="twin@example.com")


def test_invalid_argument_for_a_reversed_day_range(client: pellet.Client) -> None:
    with pytest.raises(pellet.InvalidArgument):
        client.usage(from_day=20_000, to_day=19_999)


def test_resource_exhausted_carries_retry_after(admin: pellet.Client, server: Pelletd) -> None:
    account = admin.accounts.create(name="Slow", email="slow@example.com", rate_limit_rpm=1)
    key = admin.keys.create(account.id).secret
    with pellet.Client(server.address, api_key=key) as client:
        client.complete("one", max_tokens=4)
        with pytest.raises(pellet.ResourceExhausted) as limited:
            client.complete("two", max_tokens=4)
    assert limited.value.retry_after_ms > 0


def test_permission_denied_for_a_canceled_subscription(admin: pellet.Client, server: Pelletd) -> None:
    account = admin.accounts.create(name="Gone", email="gone@example.com")
    key = admin.keys.create(account.id).secret
    admin.accounts.update(account.id, subscription_status="canceled")
    with pellet.Client(server.address, api_key=key) as client, pytest.raises(pellet.PermissionDenied) as denied:
        client.complete("hello")
    assert "canceled" in denied.value.message


def test_unimplemented_method(client: pellet.Client) -> None:
    with pytest.raises(pellet.Unimplemented):
        client._invoke(Call(9, pb.HealthRequest(), pb.HealthResponse.FromString, None))


def test_unavailable_when_nothing_listens(tmp_path) -> None:
    with pytest.raises(pellet.Unavailable, match="could not connect"):
        pellet.Client(f"unix:{tmp_path}/none.sock").health()


def test_unavailable_when_no_provider_can_serve(
        own_server: Pelletd, own_key: str, mock_behavior) -> None:
    mock_behavior("status=500")
    with pellet.Client(own_server.address, api_key=own_key) as client:
        with pytest.raises(pellet.Unavailable):
            client.complete("hello", max_tokens=4)


def test_timeout_is_sent_and_the_server_answers_deadline_exceeded(
        own_server: Pelletd, own_key: str, mock_behavior) -> None:
    mock_behavior("hang")
    with pellet.Client(own_server.address, api_key=own_key) as client:
        with pytest.raises(pellet.DeadlineExceeded) as late:
            client.complete("hello", timeout=0.3)
        assert "DEADLINE" in str(late.value)
        assert client.health().in_flight == 1, "only this Health call is running: the server stopped the other"


def test_timeout_ms_rounds_up_and_caps() -> None:
    assert wire.timeout_ms(None) == 0
    assert wire.timeout_ms(0.0001) == 1
    assert wire.timeout_ms(2.5) == 2500
    assert wire.timeout_ms(1e12) == 2**32 - 1
