"""One pooled upstream client per provider, configured from the provider entry, closed at exit."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from plugbay._http import UpstreamClient
from plugbay.testing import Reply
from tests.core.support import CHAT, relay, relay_config


def post_chat(gw, master_key, **extra) -> httpx.Response:
    return gw.http(auth=False).post(
        "/v1/chat/completions",
        json={**CHAT, **extra},
        headers={"authorization": f"Bearer {master_key}"},
        timeout=10,
    )


def test_one_pooled_client_per_provider(make_client, scripted_upstream, master_key):
    config = relay_config(scripted_upstream.base_url)
    config["providers"].append(
        {"name": "other", "type": "relay", "base_url": scripted_upstream.base_url}
    )
    config["models"].append({"name": "m-other", "provider": "other"})
    gw = make_client(config, plugins=[relay])
    routes = gw.gateway.routes
    assert routes["public"].provider is routes["org/team/model-1"].provider
    assert routes["public"].provider.http is not routes["m-other"].provider.http
    for _ in range(5):
        assert post_chat(gw, master_key).status_code == 200
        assert post_chat(gw, master_key, model="org/team/model-1").status_code == 200
    assert post_chat(gw, master_key, model="m-other").status_code == 200
    remotes = [r.remote for r in scripted_upstream.requests]
    # Ten sequential requests through provider `up`: one kept-alive connection.
    assert len(set(remotes[:10])) == 1
    # Provider `other` has a pool of its own.
    assert remotes[10] != remotes[0]


def test_max_connections_bounds_the_pool(make_client, scripted_upstream, master_key):
    gw = make_client(relay_config(scripted_upstream.base_url, max_connections=1), plugins=[relay])
    scripted_upstream.script(*(Reply.json({"ok": i}, delay=0.4) for i in range(3)))
    results: list[float] = []

    def call() -> None:
        post_chat(gw, master_key)
        results.append(time.monotonic())

    started = time.monotonic()
    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    # One connection: the three requests ran one after the other.
    assert max(results) - started > 1.1
    assert len({r.remote for r in scripted_upstream.requests}) == 1


def test_timeout_comes_from_the_provider_entry(make_client, scripted_upstream, master_key):
    gw = make_client(relay_config(scripted_upstream.base_url, timeout=2), plugins=[relay])
    scripted_upstream.script(Reply.json({"late": True}, delay=0.2), Reply.hang(60))
    assert post_chat(gw, master_key).status_code == 200  # within the timeout
    started = time.monotonic()
    assert post_chat(gw, master_key).status_code == 504
    # it waited the entry's 2 s, not the default 600 s (nor the hang's 60)
    assert 1.9 < time.monotonic() - started < 20


def test_provider_headers_are_sent(make_client, scripted_upstream, master_key):
    gw = make_client(
        relay_config(scripted_upstream.base_url, headers={"X-Team": "blue"}), plugins=[relay]
    )
    post_chat(gw, master_key)
    sent = scripted_upstream.requests[0].headers
    assert sent["x-team"] == "blue"
    assert sent["authorization"] == "Bearer sk-upstream-secret"


def test_clients_are_closed_at_shutdown(make_client, scripted_upstream, master_key):
    gw = make_client(relay_config(scripted_upstream.base_url), plugins=[relay])
    post_chat(gw, master_key)
    transport = gw.gateway.routes["public"].provider.http.transport
    session = transport._session
    assert session is not None
    assert not session.closed
    gw.stop()
    assert session.closed
    assert transport._session is None


@pytest.mark.parametrize("size", [2 * 1024 * 1024, 5 * 1024 * 1024])
def test_large_bodies_are_sent_whole(scripted_upstream, size):
    body = b"{" + b" " * (size - 2) + b"}"

    async def main() -> httpx.Response:
        client = UpstreamClient(scripted_upstream.base_url)
        try:
            request = client.build("POST", "/echo", content=body)
            return await client.send(request)
        finally:
            await client.aclose()

    response = asyncio.run(main())
    assert response.status_code == 404  # the scripted upstream's answer to an unknown path
    (sent,) = scripted_upstream.requests
    assert sent.headers["content-length"] == str(size)
    assert sent.body == body


def test_connection_refused_and_timeouts_become_502_and_504(scripted_upstream):
    from plugbay._errors import UpstreamError, UpstreamTimeout
    from tests.helpers import free_port

    scripted_upstream.script(Reply.hang(60))

    async def main() -> None:
        closed = UpstreamClient(f"http://127.0.0.1:{free_port()}")
        slow = UpstreamClient(scripted_upstream.url, timeout=0.2)
        try:
            with pytest.raises(UpstreamError) as refused:
                await closed.send(closed.build("GET", "/"))
            assert refused.value.status_code == 502
            with pytest.raises(UpstreamTimeout) as late:
                await slow.send(slow.build("GET", "/"))
            assert late.value.status_code == 504
        finally:
            await closed.aclose()
            await slow.aclose()

    asyncio.run(main())
