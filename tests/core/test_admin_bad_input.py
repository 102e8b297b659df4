"""Bad admin input is a 400 naming the field, never a 500 (and never stored)."""

from __future__ import annotations

import httpx
import pytest

from plugbay.testing import fake

CONFIG = {"providers": [{"name": "f", "type": "fake"}], "models": [{"name": "m", "provider": "f"}]}


@pytest.fixture
def admin(make_client, caplog):
    gw = make_client(CONFIG, plugins=[fake])
    with gw.http(headers={"content-type": "application/json"}) as client:
        yield client
    assert "Traceback" not in caplog.text
    assert "unhandled error" not in caplog.text


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def error_of(answer: httpx.Response) -> dict[str, object]:
    assert answer.status_code == 400, answer.text
    error: dict[str, object] = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    return error


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/admin/keys", b'{"name": "\xff\xfe"}', None),
        ("/admin/keys", b"[" * 100_000 + b"]" * 100_000, None),
        ("/admin/keys", b'{"name": "a", "metadata": ' + nested(2000) + b"}", None),
        ("/admin/keys", b'{"name": "a", "metadata": ' + nested(40) + b"}", "metadata"),
        ("/admin/keys", b'{"name": "a", "rpm": 9223372036854775808}', "rpm"),
        ("/admin/keys", b'{"name": "a", "tpm": 9007199254740993}', "tpm"),
        ("/admin/keys", b'{"name": "a", "rpm": 1e30}', "rpm"),
        ("/admin/keys", b'{"name": "a", "max_budget": 1e300}', "max_budget"),
        ("/admin/keys", b'{"name": "a", "max_budget": -1}', "max_budget"),
        ("/admin/keys", b'{"name": "a", "max_parallel": 0}', "max_parallel"),
        ("/admin/models", b'{"name": "n", "provider": "f", "price": {"input": -1}}', "price.input"),
        ("/admin/models", b'{"name": "n", "provider": "f", "price": {"output": 1e10}}', None),
        ("/admin/models", b'{"name": "/x", "provider": "f"}', "name"),
        ("/admin/models", b'{"name": "a//b", "provider": "f"}', "name"),
        ("/admin/models", b'{"name": "a\\nb", "provider": "f"}', "name"),
        ("/admin/providers", b'{"name": "team/a", "type": "fake"}', "name"),
        ("/admin/providers", b'{"name": "   ", "type": "fake"}', "name"),
        (
            "/admin/providers",
            b'{"name": "p", "type": "fake", "headers": {"x-a": "b\\r\\nx-evil: 1"}}',
            "headers.x-a",
        ),
        (
            "/admin/providers",
            b'{"name": "p", "type": "fake", "headers": {"bad name": "v"}}',
            "headers.bad name",
        ),
    ],
)
def test_bad_create_bodies_are_400s(admin, path, body, param):
    answer = admin.post(path, content=body)
    error = error_of(answer)
    if param is not None:
        assert error["param"] == param
    listed = admin.get(path).json()["data"]
    assert [item.get("name") for item in listed] in ([], ["f"], ["m"])  # nothing was stored


def test_bad_patch_bodies_are_400s(admin):
    created = admin.post("/admin/keys", json={"name": "k"}).json()
    bodies = (b'{"rpm": "\xff"}', nested(100), b'{"spend": -5}', b'{"rpm": 18446744073709551616}')
    for body in bodies:
        error_of(admin.patch(f"/admin/keys/{created['id']}", content=body))
    error_of(admin.patch("/admin/models/m", content=b'{"price": {"cached_input": -0.5}}'))


def test_a_provider_with_a_safe_name_is_reachable_everywhere(admin):
    assert admin.post("/admin/providers", json={"name": "team.a-1", "type": "fake"}).status_code
    name = "vendor/model:latest"
    created = admin.post("/admin/models", json={"name": name, "provider": "f"})
    assert created.status_code == 201, created.text
    assert admin.get(f"/admin/models/{name}").json()["name"] == name
    patched = admin.patch(f"/admin/models/{name}", json={"price": {"input": 1, "output": 2}})
    assert patched.status_code == 200, patched.text
    assert admin.delete(f"/admin/models/{name}").status_code == 200


def test_the_config_file_refuses_the_same():
    from plugbay._settings import ConfigError, parse_settings

    bad = [
        ({"providers": [{"name": "a/b", "type": "fake"}]}, "providers[0].name"),
        (
            {"providers": [{"name": "p", "type": "fake", "headers": {"x": "a\nb"}}]},
            "providers[0].headers.x",
        ),
        ({"models": [{"name": "m/", "provider": "p"}]}, "models[0].name"),
        ({"models": [{"name": "m", "provider": "p", "price": {"input": -1}}]}, "models[0].price"),
    ]
    for data, key in bad:
        with pytest.raises(ConfigError) as info:
            parse_settings(data, source="t")
        assert str(info.value).startswith(f"t: {key}"), str(info.value)
