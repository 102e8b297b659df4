from __future__ import annotations

import plugbay_echo
import plugbay_openai


def test_chat_through_openai_adapter(make_gateway, scripted_upstream):
    gw = make_gateway(
        {
            "providers": [
                {
                    "name": "up",
                    "type": "openai",
                    "base_url": scripted_upstream.base_url,
                    "api_key": "sk-upstream",
                }
            ],
            "models": [{"name": "public", "provider": "up", "upstream_model": "gpt-x"}],
        },
        plugins=[plugbay_openai],
    )
    client = gw.openai()
    answer = client.chat.completions.create(
        model="public", messages=[{"role": "user", "content": "hello world"}]
    )
    assert answer.model == "public"
    assert answer.choices[0].message.content == "hello world"
    stream = client.chat.completions.create(
        model="public", messages=[{"role": "user", "content": "a b c"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "a b c"
    sent = scripted_upstream.requests[0]
    assert sent.headers["authorization"] == "Bearer sk-upstream"
    assert sent.json()["model"] == "gpt-x"


def test_echo(make_gateway):
    gw = make_gateway(plugins=[plugbay_echo])
    client = gw.openai()
    answer = client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "hello world"}]
    )
    assert answer.choices[0].message.content == "hello world"
