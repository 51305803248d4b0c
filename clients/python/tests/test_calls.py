"""Every call of the threaded client against a real pelletd."""

from __future__ import annotations

import pytest

import pellet
from conftest import ADMIN_TOKEN, PROVIDERS, Pelletd

TASK_TYPES = {"code", "math", "reasoning", "extraction", "summarization", "translation", "classification",
              "creative", "qa", "chat"}


def test_health_names_the_three_providers(client: pellet.Client) -> None:
    health = client.health()
    assert health.version
    assert health.uptime_ms > 0
    assert {provider.name for provider in health.providers} == set(PROVIDERS)


def test_route_classifies_and_prices_without_calling_a_provider(client: pellet.Client) -> None:
    decision = client.route("Write a SQL query that lists the ten largest orders by total", preference="cost")
    assert decision.task_type == "code"
    assert decision.provider in PROVIDERS
    assert decision.model
    assert decision.est_cost_micro_usd > 0
    assert decision.reason
    # Field 9, added after v1's first release: the prompt's difficulty, a probability, named in the reason.
    assert 0 < decision.difficulty < 1
    assert f"difficulty {decision.difficulty:.2f}" in decision.reason
    assert all(candidate.provider in PROVIDERS for candidate in decision.fallbacks)
    assert (decision.model, decision.provider) not in {(c.model, c.provider) for c in decision.fallbacks}


def test_route_follows_the_preference_and_task_hint(client: pellet.Client) -> None:
    prompt = "Explain the proof that there are infinitely many primes, step by step"
    cheapest = client.route(prompt, preference="cost", max_tokens=500)
    best = client.route(prompt, preference="quality", max_tokens=500)
    assert cheapest.est_cost_micro_usd <= best.est_cost_micro_usd
    assert client.route(messages=[{"role": "user", "content": "hi"}], task_hint="translation").task_type == \
        "translation"


def test_complete_returns_text_usage_and_cost(client: pellet.Client) -> None:
    reply = client.complete("Summarize: the quick brown fox jumps over the lazy dog.", max_tokens=200,
                            preference="balanced")
    assert reply.text
    assert reply.provider in PROVIDERS and reply.model
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    assert reply.cost_micro_usd > 0
    assert reply.request_id
    assert reply.route.task_type in TASK_TYPES
    assert reply.attempts == 1


def test_complete_forwards_sampling_parameters_and_refuses_bad_ones(client: pellet.Client) -> None:
    assert client.complete("Say hi", temperature=0, top_p=1, stop=["\n\n"], max_tokens=8).text
    with pytest.raises(pellet.InvalidArgument) as refused:
        client.complete("Say hi", temperature=3)
    assert refused.value.status == "INVALID_ARGUMENT" and refused.value.code == 3
    assert "temperature" in refused.value.message


def test_stream_yields_chunks_then_totals(client: pellet.Client) -> None:
    stream = client.complete(messages=[{"role": "user", "content": "Hi"}], stream=True, max_tokens=16)
    texts = [chunk.text for chunk in stream]
    assert len(texts) > 1
    assert stream.completion is not None
    assert stream.completion.text == "".join(texts) == stream.text
    assert stream.completion.usage.output_tokens > 0
    assert stream.completion.cost_micro_usd > 0 and stream.completion.request_id


def test_usage_groups_and_pages_request_records(client: pellet.Client) -> None:
    ids = {client.complete(f"Count to {n}", max_tokens=8).request_id for n in range(3)}
    usage = client.usage(days=7, group_by=["model"])
    assert usage.totals.requests >= 3
    assert usage.rows and all(row.model for row in usage.rows)
    assert sum(row.totals.requests for row in usage.rows) == usage.totals.requests

    seen, cursor = [], ""
    for _ in range(10):
        page = client.usage(days=1, list_requests=True, limit=1, cursor=cursor)
        assert len(page.requests) <= 1
        seen += [record.request_id for record in page.requests]
        cursor = page.next_cursor
        if not cursor or ids <= set(seen):
            break
    assert ids <= set(seen), "paging one record at a time reaches the three calls"


def test_accounts_and_keys_life_cycle(admin: pellet.Client, server: Pelletd) -> None:
    account = admin.accounts.create(name="Ada", email="ada@example.com", plan="pro", budget_usd=5)
    assert account.id.startswith("acc_")
    assert account.monthly_budget_micro_usd == 5_000_000
    assert admin.accounts.get(account.id).email == "ada@example.com"
    assert admin.accounts.get_by_email("ada@example.com").id == account.id

    updated = admin.accounts.update(account.id, name="Ada Lovelace", rate_limit_rpm=100)
    assert (updated.name, updated.plan, updated.rate_limit_rpm) == ("Ada Lovelace", "pro", 100)

    key = admin.keys.create(account.id, name="batch-jobs")
    assert key.secret.startswith("plt_") and key.secret.startswith(key.prefix)
    assert [k.id for k in admin.keys.list(account.id)] == [key.id]
    with pellet.Client(server.address, api_key=key.secret) as own:
        assert own.accounts.get().id == account.id, "a key reads its own account"
        own.route("hello")
    exported = admin.accounts.export(account.id)
    assert "ada@example.com" in str(exported)

    admin.keys.revoke(key.id)
    assert admin.keys.list(account.id)[0].revoked_unix_ms > 0
    with pellet.Client(server.address, api_key=key.secret) as revoked, pytest.raises(pellet.Unauthenticated):
        revoked.route("hello")

    admin.accounts.delete(account.id)
    with pytest.raises(pellet.NotFound):
        admin.accounts.get(account.id)


def test_accounts_list_pages(admin: pellet.Client) -> None:
    created = {admin.accounts.create(name=f"P{n}", email=f"page{n}@example.com").id for n in range(3)}
    seen, cursor = set(), ""
    while True:
        page = admin.accounts.list(limit=2, cursor=cursor)
        assert len(page.accounts) <= 2
        seen |= {account.id for account in page.accounts}
        cursor = page.next_cursor
        if not cursor:
            break
    assert created <= seen


def test_compact_reports_sizes(admin: pellet.Client) -> None:
    report = admin.compact()
    assert report.bytes_before > 0 and report.bytes_after > 0


def test_reload_catalogue_reports_the_policy_version(admin: pellet.Client) -> None:
    # The harness's pelletd runs the built-in catalogue: reloading it changes nothing.
    report = admin.reload_catalogue()
    assert report.policy_version == report.previous_policy_version != ""
    assert list(report.providers) == ["fireworks", "groq", "together"]
    assert list(report.enabled_providers) == ["fireworks", "groq", "together"]


def test_tcp_and_environment_defaults(server: Pelletd, api_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PELLET_ADDRESS", server.tcp_address)
    monkeypatch.setenv("PELLET_API_KEY", api_key)
    with pellet.Client() as client:
        assert client.address == server.tcp_address
        assert client.route("Translate 'good morning' into French").task_type == "translation"
    monkeypatch.setenv("PELLET_ADMIN_TOKEN", ADMIN_TOKEN)
    with pellet.Client(server.address) as admin:
        assert admin.accounts.list(limit=1).accounts


def test_malformed_address_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="tcp://"):
        pellet.Client("localhost:7400")
