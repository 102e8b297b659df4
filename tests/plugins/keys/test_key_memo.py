"""A key whose hash is memoised (it was just used) is refused at once when revoked/disabled."""

from __future__ import annotations

import httpx
import openai
import pytest

from plugbay import _auth

CHAT = {"model": "small", "messages": [{"role": "user", "content": "hi"}]}


def admin(gw) -> httpx.Client:
    return httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {gw.api_key}"})


@pytest.mark.parametrize(
    ("change", "code"),
    [(None, "key_revoked"), ({"enabled": False}, "key_disabled")],
    ids=["revoked", "disabled"],
)
def test_a_memoised_key_is_refused_at_once(gw, change, code):
    with admin(gw) as http:
        created = http.post("/admin/keys", json={"name": "app"}).json()
    client = gw.openai(api_key=created["key"])
    for _ in range(3):
        client.chat.completions.create(**CHAT)
    hits = _auth._memo.cache_info().hits
    client.chat.completions.create(**CHAT)
    assert _auth._memo.cache_info().hits > hits  # its hash came from the memo
    with admin(gw) as http:
        if change is None:
            assert http.delete(f"/admin/keys/{created['id']}").status_code == 200
        else:
            assert http.patch(f"/admin/keys/{created['id']}", json=change).status_code == 200
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(**CHAT)
    assert info.value.code == code
