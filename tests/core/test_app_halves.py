"""The two halves of the app -- the fast ``/v1`` completion endpoints and Litestar -- answer
errors and request ids the same way, and a ``plugbay_wrap_asgi`` middleware sees both."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from litestar import get

from plugbay import BaseProvider, ChatRequest, ChatResponse, hookimpl
from plugbay._app import PlugbayApp, WrappedPlugbayApp, create_app
from plugbay.testing import EventRecorder, build_settings, fake

CONFIG = {
    "providers": [{"name": "local", "type": "fake"}, {"name": "broken", "type": "boom"}],
    "models": [
        {"name": "small", "provider": "local"},
        {"name": "boom", "provider": "broken"},
    ],
}
GENERATED = re.compile(r"^req_[0-9a-f]{32}$")


class BoomProvider(BaseProvider):
    async def chat(self, request: ChatRequest) -> ChatResponse:
        raise RuntimeError("a bug in an adapter, with secret-ish detail")


class Boom:
    """Adapter ``boom`` and route ``/boom``: both raise an unexpected exception."""

    @hookimpl
    def plugbay_register_adapters(self, register: Callable[..., None]) -> None:
        register("boom", BoomProvider)

    @hookimpl
    def plugbay_register_routes(self, register: Callable[[Any], None]) -> None:
        @get("/boom")
        async def boom() -> None:
            raise RuntimeError("a bug in a route, with secret-ish detail")

        register(boom)


@pytest.fixture
def recorder() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
def gw(make_gateway, recorder):
    return make_gateway(CONFIG, plugins=[fake, Boom(), recorder])


def call(gw, method: str, path: str, *, key: str | None = "", **kwargs: Any) -> httpx.Response:
    headers = dict(kwargs.pop("headers", {}))
    if key is not None:
        headers["authorization"] = f"Bearer {key or gw.api_key}"
    return httpx.request(method, gw.url + path, headers=headers, timeout=30, **kwargs)


def rendering(answer: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    """Everything the client sees but the date and the deployment that was tried (only the
    completion endpoints route to deployments)."""
    routing = {"date", "x-plugbay-deployment", "x-plugbay-attempts"}
    headers = [(k, v) for k, v in answer.headers.multi_items() if k not in routing]
    return answer.status_code, headers, answer.content


RID = {"x-request-id": "client-chosen-1"}
BAD_JSON = {"content": b'{"model": ', "headers": {**RID, "content-type": "application/json"}}


@pytest.mark.parametrize(
    ("fast", "litestar"),
    [
        pytest.param(  # 401: no credential
            ("POST", "/v1/chat/completions", {"key": None, "json": {}, "headers": RID}),
            ("GET", "/v1/models", {"key": None, "headers": RID}),
            id="401",
        ),
        pytest.param(  # 401: a credential nobody accepts
            ("POST", "/v1/embeddings", {"key": "sk-wrong", "json": {}, "headers": RID}),
            ("GET", "/admin/plugins", {"key": "sk-wrong", "headers": RID}),
            id="401-wrong-key",
        ),
        pytest.param(  # 404: a model nobody serves
            ("POST", "/v1/chat/completions", {"json": {"model": "nope", "messages": [
                {"role": "user", "content": "hi"}]}, "headers": RID}),
            ("GET", "/v1/models/nope", {"headers": RID}),
            id="404-model",
        ),
        pytest.param(  # 400: a body that is not JSON
            ("POST", "/v1/chat/completions", BAD_JSON),
            ("POST", "/admin/providers", BAD_JSON),
            id="400-bad-json",
        ),
        pytest.param(  # 500: a bug (the client learns the type, never the message)
            ("POST", "/v1/chat/completions", {"json": {"model": "boom", "messages": [
                {"role": "user", "content": "hi"}]}, "headers": RID}),
            ("GET", "/boom", {"headers": RID}),
            id="500",
        ),
    ],
)  # fmt: skip
def test_one_error_renders_identically_on_both_halves(gw, fast, litestar):
    on_fast = call(gw, fast[0], fast[1], **fast[2])
    on_litestar = call(gw, litestar[0], litestar[1], **litestar[2])
    assert rendering(on_fast) == rendering(on_litestar)
    assert on_fast.status_code >= 400
    assert set(on_fast.json()["error"]) == {"message", "type", "param", "code"}
    assert on_fast.headers.get_list("x-request-id") == ["client-chosen-1"]
    assert "secret-ish" not in on_fast.text


def test_the_app_s_own_errors_render_as_the_fast_path_s(gw):
    """Unknown URL and wrong method: raised by Litestar's router, rendered by the same
    function as the fast path's errors, with the same headers in the same order."""
    unknown = call(gw, "GET", "/v1/nope", headers=RID)
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error": {
            "message": "Unknown request URL: GET /v1/nope.",
            "type": "invalid_request_error",
            "param": None,
            "code": "not_found",
        }
    }
    fast_404 = call(gw, "POST", "/v1/chat/completions", headers=RID, json={"model": "nope"})
    assert [k for k, _ in rendering(unknown)[1]] == [k for k, _ in rendering(fast_404)[1]]

    fast_405 = call(gw, "GET", "/v1/chat/completions", headers=RID)
    litestar_405 = call(gw, "DELETE", "/v1/models", headers=RID)
    for answer, allowed in ((fast_405, "POST"), (litestar_405, None)):
        assert answer.status_code == 405
        error = answer.json()["error"]
        assert error["code"] == "method_not_allowed"
        allow = answer.headers["allow"]
        assert allowed is None or allow == allowed
        assert (
            error["message"] == f"Method {answer.request.method} is not allowed here; use {allow}."
        )
        assert answer.headers.get_list("x-request-id") == ["client-chosen-1"]
    assert [k for k, _ in rendering(fast_405)[1]] == [k for k, _ in rendering(litestar_405)[1]]


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/v1/chat/completions", {"json": {"model": "small", "messages": [
            {"role": "user", "content": "hi"}]}}),
        ("POST", "/v1/chat/completions", {"json": {"model": "nope"}}),  # an error
        ("GET", "/v1/models", {}),
        ("GET", "/health", {}),
        ("GET", "/admin/plugins", {}),
        ("GET", "/v1/nope", {}),  # an error of Litestar's router
    ],
)  # fmt: skip
def test_request_id_on_both_halves(gw, method, path, kwargs):
    echoed = call(gw, method, path, headers={"x-request-id": "trace-abc.42"}, **kwargs)
    assert echoed.headers.get_list("x-request-id") == ["trace-abc.42"]
    first = call(gw, method, path, **kwargs).headers.get_list("x-request-id")
    second = call(gw, method, path, **kwargs).headers.get_list("x-request-id")
    assert len(first) == len(second) == 1
    assert GENERATED.match(first[0])
    assert GENERATED.match(second[0])
    assert first != second
    insane = call(gw, method, path, headers={"x-request-id": "has space " + "x" * 300}, **kwargs)
    assert GENERATED.match(insane.headers["x-request-id"])


def test_the_request_id_reaches_the_request_finished_event(gw, recorder):
    body = {"model": "small", "messages": [{"role": "user", "content": "hi"}]}
    answer = call(gw, "POST", "/v1/chat/completions", json=body, headers=RID)
    assert answer.status_code == 200
    assert recorder.wait("client-chosen-1").status == 200


class Counting:
    """A middleware that counts the requests it sees and marks their answers."""

    def __init__(self, name: str, order: list[str]) -> None:
        self.name = name
        self.order = order
        self.paths: list[str] = []
        self.scopes: list[str] = []

    @hookimpl
    def plugbay_wrap_asgi(self, settings: Any) -> Callable[[Any], Any]:
        assert settings.server.database
        return self.wrap

    def wrap(self, app: Any) -> Any:
        async def counted(scope: dict[str, Any], receive: Any, send: Any) -> None:
            self.scopes.append(scope["type"])
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            self.paths.append(scope["path"])
            self.order.append(self.name)

            async def marked(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message["headers"], (b"x-seen-by", self.name.encode())]
                await send(message)

            await app(scope, receive, marked)

        return counted


class CountingFirst(Counting):
    @hookimpl(tryfirst=True)
    def plugbay_wrap_asgi(self, settings: Any) -> Callable[[Any], Any]:
        return self.wrap


def test_a_wrapper_sees_both_halves(make_gateway, recorder):
    order: list[str] = []
    inner, outer = Counting("inner", order), CountingFirst("outer", order)
    gw = make_gateway(CONFIG, plugins=[fake, Boom(), inner, outer, recorder])
    assert isinstance(gw.app, WrappedPlugbayApp)
    assert inner.scopes[:1] == ["lifespan"]
    body = {"model": "small", "messages": [{"role": "user", "content": "hi there"}]}
    answers = [
        call(gw, "POST", "/v1/chat/completions", json=body),  # fast path
        call(gw, "POST", "/v1/chat/completions", json={**body, "stream": True}),
        call(gw, "POST", "/v1/embeddings", json={"model": "small", "input": "x"}),
        call(gw, "GET", "/v1/models"),  # Litestar
        call(gw, "GET", "/admin/plugins"),
        call(gw, "GET", "/health"),
        call(gw, "GET", "/v1/nope"),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 200, 200, 404]
    paths = [
        "/v1/chat/completions",
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/models",
        "/admin/plugins",
        "/health",
        "/v1/nope",
    ]
    assert inner.paths == outer.paths == paths
    assert order == ["outer", "inner"] * len(paths)  # tryfirst is the outermost
    for answer in answers:  # the inner one marks first: it is nearer the app
        assert answer.headers.get_list("x-seen-by") == ["inner", "outer"]
    assert "data: [DONE]" in answers[1].text
    assert len(recorder.wait_for(3)) == 3


def test_without_a_wrapper_the_app_has_no_extra_layer():
    settings = build_settings(CONFIG, database=":memory:")
    app = create_app(settings, plugins=[fake, Boom()])
    assert type(app) is PlugbayApp
    assert type(app).__call__ is PlugbayApp.__call__
    wrapped = create_app(settings, plugins=[fake, Boom(), Counting("one", [])])
    assert type(wrapped) is WrappedPlugbayApp


def test_a_wrapper_that_returns_no_app_stops_start_up():
    class Broken:
        @hookimpl
        def plugbay_wrap_asgi(self) -> Any:
            return lambda app: None

    class NotAMiddleware:
        @hookimpl
        def plugbay_wrap_asgi(self) -> Any:
            return "wrap me"

    settings = build_settings(CONFIG, database=":memory:")
    with pytest.raises(TypeError, match="not an app"):
        create_app(settings, plugins=[fake, Boom(), Broken()])
    with pytest.raises(TypeError, match="'wrap me', not a middleware"):
        create_app(settings, plugins=[fake, Boom(), NotAMiddleware()])


def test_a_body_too_large_for_litestar_says_what_the_fast_path_says(gw):
    huge = b'{"name": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    answer = call(gw, "POST", "/admin/providers", content=huge, headers=RID)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "request_too_large"
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert answer.headers.get_list("x-request-id") == ["client-chosen-1"]
