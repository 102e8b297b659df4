"""The contract every adapter keeps, as a test class an adapter's test module subclasses.

::

    from plugbay.testing import ProviderConformance, Reply, Scenario

    import plugbay_acme

    class TestAcmeConformance(ProviderConformance):
        plugins = (plugbay_acme,)

        def provider(self, upstream):
            return {"type": "acme", "base_url": upstream.url, "api_key": "sk-acme-secret"}

        def answer(self, scenario, *, tools):  # Acme's own wire format
            return Reply.json({...})

        def stream(self, scenario, *, tools):
            return Reply.sse([...])

        def error(self, status, message, *, retry_after):
            return Reply.json({"fault": message}, status=status, headers=...)

The suite serves a gateway with the adapter's plugin (on 127.0.0.1: one test closes a
connection) in front of a :class:`~plugbay.testing.ScriptedUpstream`, scripts the upstream
with the subclass's native answers for each canonical :class:`Scenario`, and checks what the
client gets: answers are valid OpenAI JSON with ``model`` set to the public name; streams are
valid SSE with one role opener, ordered tool-call deltas, exactly one finish reason, a usage
chunk when asked (and none when not) and ``[DONE]`` last; upstream errors map to the status
and OpenAI error type of :attr:`ProviderConformance.error_contract`; a client that leaves a
stream closes the upstream connection; usage is reported (the request-finished event) and
recorded (the registry's usage report) for streams and non-streams.

It only uses the adapter's public behaviour (its config and HTTP), never its internals. An
adapter without an upstream (``scripted = False``) answers the suite's prompt itself: it
overrides :meth:`~ProviderConformance.expected_tool_calls` and
:meth:`~ProviderConformance.expected_usage`, and the tests that need a scripted upstream are
skipped.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
import pytest

from plugbay.testing.gateway import MASTER_KEY, RunningGateway, build_settings
from plugbay.testing.openai_checks import (
    check_completion,
    finish_reason,
    stream_chunks,
    streamed_text,
    tool_arguments,
    usage_chunks,
)
from plugbay.testing.recorder import EventRecorder
from plugbay.testing.upstream import RecordedRequest, Reply, ScriptedUpstream

__all__ = ["Conformance", "ProviderConformance", "Scenario", "ToolCall"]

_ids = itertools.count()


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Scenario:
    """What the upstream answers, in every vendor's words: the subclass turns it into its
    vendor's native answer, stream and usage report."""

    text: str = "Hello from the conformance suite"
    """The answer's text (the prompt too, so an adapter without an upstream can echo it)."""
    tool_calls: tuple[ToolCall, ...] = (
        ToolCall("call_conf_0", "get_weather", {"city": "Paris", "days": 3}),
        ToolCall("call_conf_1", "get_time", {"zone": "Europe/Paris"}),
    )
    """The calls of a tool-calling answer, in order (it has no text)."""
    prompt_tokens: int = 11
    completion_tokens: int = 5
    tools: tuple[dict[str, Any], ...] = field(
        default=(
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                    },
                },
            },
            {
                "type": "function",
                "function": {
                    "name": "get_time",
                    "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
                },
            },
        )
    )
    """The tools the client offers in a tool-calling request."""


@dataclass
class Conformance:
    """What the suite's fixture gives each test."""

    gateway: RunningGateway
    upstream: ScriptedUpstream
    recorder: EventRecorder
    http: httpx.Client


def _unscripted(request: RecordedRequest) -> Reply:
    return Reply.json({"error": f"the conformance suite scripted no answer for {request}"}, 599)


_USAGE_MODEL = "conformance-usage-model"
"""A second public name for the model, used only by the usage test (its records alone)."""


class ProviderConformance:
    """Subclass as ``Test<Name>Conformance`` in an adapter's tests; see the module docs."""

    plugins: ClassVar[Sequence[object]] = ()
    """The plugins to register (the adapter's module or object)."""
    public_model: ClassVar[str] = "conformance-model"
    """The name clients use; every answer must carry it."""
    upstream_model: ClassVar[str] = "conformance-upstream-model"
    """The model the provider entry maps it to (``upstream_model``)."""
    upstream_api_key: ClassVar[str] = "sk-conformance-upstream-secret"
    """The provider's key: it must never reach a client."""
    scripted: ClassVar[bool] = True
    """Whether the adapter has an upstream to script (``False``: it answers by itself)."""
    supports_tools: ClassVar[bool] = True
    scenario: ClassVar[Scenario] = Scenario()
    error_contract: ClassVar[dict[int, tuple[int, str]]] = {
        400: (400, "invalid_request_error"),
        401: (502, "upstream_error"),
        429: (429, "rate_limit_error"),
        500: (502, "upstream_error"),
        503: (503, "upstream_error"),
    }
    """Upstream status → the client's status and OpenAI error type (``plugbay.wire``'s ladder):
    the client can fix a 400, not the provider's refused key (502); 429 keeps its
    ``Retry-After``; 5xx are retryable."""
    known_gaps: ClassVar[dict[str, str]] = {}
    """Test ids (``test_upstream_error[503-stream]``) the adapter does not pass yet → why;
    those are strict expected failures, so a fix is noticed."""

    # --- what a subclass provides ------------------------------------------------------------

    def provider(self, upstream: ScriptedUpstream) -> dict[str, Any]:
        """The provider table (``type``, ``base_url``, ``api_key``...; no ``name``) that
        sends the adapter's requests to ``upstream``."""
        raise NotImplementedError

    def answer(self, scenario: Scenario, *, tools: bool) -> Reply:
        """The vendor's non-streaming answer: ``scenario.text``, or with ``tools`` its
        ``tool_calls``; with usage ``prompt_tokens`` / ``completion_tokens``."""
        raise NotImplementedError

    def stream(self, scenario: Scenario, *, tools: bool) -> Reply:
        """The vendor's streamed answer, in at least three events (the suite withholds the
        last one to test a client leaving mid-stream); usage as in :meth:`answer`."""
        raise NotImplementedError

    def error(self, status: int, message: str, *, retry_after: int | None) -> Reply:
        """The vendor's error answer with this status and message (and, on 429, the vendor's
        way of saying when to retry, if it has one)."""
        raise NotImplementedError

    def expected_tool_calls(self, scenario: Scenario) -> list[tuple[str, dict[str, Any]]]:
        """``(name, arguments)`` of the calls the client must get for a tool-calling request."""
        return [(call.name, call.arguments) for call in scenario.tool_calls]

    def expected_usage(self, scenario: Scenario, *, tools: bool) -> tuple[int, int]:
        """``(prompt_tokens, completion_tokens)`` the client and the usage event must see."""
        return scenario.prompt_tokens, scenario.completion_tokens

    # --- the fixture -----------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_gateway(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Conformance]:
        self = cls()
        upstream = ScriptedUpstream(default=_unscripted).start()
        recorder = EventRecorder()
        provider = {"name": "conformance", **self.provider(upstream)}
        config = {
            "providers": [provider],
            "models": [
                {"name": name, "provider": "conformance", "upstream_model": self.upstream_model}
                for name in (self.public_model, _USAGE_MODEL)
            ],
        }
        database = tmp_path_factory.mktemp("conformance") / "plugbay.db"
        settings = build_settings(config, database=database, master_key=MASTER_KEY)
        gateway = RunningGateway(settings, [*self.plugins, recorder]).start()
        http = httpx.Client(
            base_url=gateway.url, headers={"authorization": f"Bearer {MASTER_KEY}"}, timeout=60
        )
        try:
            yield Conformance(gateway, upstream, recorder, http)
        finally:
            http.close()
            gateway.stop()
            upstream.stop()

    @pytest.fixture
    def conf(self, conformance_gateway: Conformance, request: pytest.FixtureRequest) -> Conformance:
        reason = self.known_gaps.get(request.node.name)
        if reason is not None:
            request.applymarker(pytest.mark.xfail(reason=reason, strict=True))
        conformance_gateway.upstream.clear()
        return conformance_gateway

    # --- helpers ---------------------------------------------------------------------------

    def _script(self, conf: Conformance, reply: Callable[..., Reply], *, tools: bool) -> None:
        """Queue ``reply(scenario, tools=tools)`` (:meth:`answer` or :meth:`stream`)."""
        if self.scripted:
            conf.upstream.script(reply(self.scenario, tools=tools))

    def _require_upstream(self) -> None:
        if not self.scripted:
            pytest.skip("the adapter has no upstream to script")

    def _require_tools(self) -> None:
        if not self.supports_tools:
            pytest.skip("the adapter does not call tools")

    def _body(
        self,
        *,
        stream: bool,
        tools: bool = False,
        usage: bool | None = None,
        model: str | None = None,
    ) -> Any:
        body: dict[str, Any] = {
            "model": model or self.public_model,
            "messages": [{"role": "user", "content": self.scenario.text}],
        }
        if tools:
            body["tools"] = list(self.scenario.tools)
            body["tool_choice"] = "required"
        if stream:
            body["stream"] = True
            if usage is not None:
                body["stream_options"] = {"include_usage": usage}
        return body

    def _post(self, conf: Conformance, body: Any) -> tuple[httpx.Response, str]:
        request_id = f"conformance-{next(_ids)}"
        response = conf.http.post(
            "/v1/chat/completions", json=body, headers={"x-request-id": request_id}
        )
        return response, request_id

    def _check_no_secret(self, response: httpx.Response) -> None:
        assert self.upstream_api_key not in response.text, "the provider's key reached a client"
        assert self.upstream_api_key not in repr(response.headers)

    def _assert_usage(self, usage: Any, expected: tuple[int, int]) -> None:
        prompt, completion = expected
        got = (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"])
        assert got == (prompt, completion, prompt + completion)

    # --- answers ---------------------------------------------------------------------------

    def test_answer_is_openai_json_with_the_public_model(self, conf: Conformance) -> None:
        self._script(conf, self.answer, tools=False)
        response, _ = self._post(conf, self._body(stream=False))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        check_completion(body, self.public_model)
        (choice,) = body["choices"]
        assert choice["message"]["role"] == "assistant"
        assert choice["message"]["content"] == self.scenario.text
        assert choice["finish_reason"] == "stop"
        self._assert_usage(body["usage"], self.expected_usage(self.scenario, tools=False))
        self._check_no_secret(response)

    def test_answer_with_tool_calls(self, conf: Conformance) -> None:
        self._require_tools()
        self._script(conf, self.answer, tools=True)
        response, _ = self._post(conf, self._body(stream=False, tools=True))
        assert response.status_code == 200, response.text
        body = response.json()
        check_completion(body, self.public_model)
        (choice,) = body["choices"]
        assert choice["finish_reason"] == "tool_calls"
        calls = choice["message"]["tool_calls"]
        assert all(c["type"] == "function" and c["id"] for c in calls)
        assert len({c["id"] for c in calls}) == len(calls), "tool call ids are distinct"
        got = [(c["function"]["name"], tool_arguments(c["function"]["arguments"])) for c in calls]
        assert got == self.expected_tool_calls(self.scenario)

    # --- streams ---------------------------------------------------------------------------

    def test_stream_is_valid_sse_without_usage_unless_asked(self, conf: Conformance) -> None:
        for usage in (None, False):
            self._script(conf, self.stream, tools=False)
            response, _ = self._post(conf, self._body(stream=True, usage=usage))
            chunks = stream_chunks(response, self.public_model)
            assert streamed_text(chunks) == self.scenario.text
            assert finish_reason(chunks) == "stop"
            assert usage_chunks(chunks) == [], "a usage chunk nobody asked for"
            self._check_no_secret(response)

    def test_stream_usage_chunk_when_asked(self, conf: Conformance) -> None:
        self._script(conf, self.stream, tools=False)
        response, _ = self._post(conf, self._body(stream=True, usage=True))
        chunks = stream_chunks(response, self.public_model)
        assert streamed_text(chunks) == self.scenario.text
        (usage_chunk,) = usage_chunks(chunks)
        assert usage_chunk is chunks[-1], "the usage chunk comes last, before [DONE]"
        assert usage_chunk["choices"] == []
        self._assert_usage(usage_chunk["usage"], self.expected_usage(self.scenario, tools=False))

    def test_stream_tool_call_deltas_are_ordered(self, conf: Conformance) -> None:
        self._require_tools()
        self._script(conf, self.stream, tools=True)
        response, _ = self._post(conf, self._body(stream=True, tools=True, usage=True))
        chunks = stream_chunks(response, self.public_model)
        assert finish_reason(chunks) == "tool_calls"
        deltas = [
            call
            for c in chunks
            for choice in c["choices"]
            for call in choice["delta"].get("tool_calls") or ()
        ]
        indexes = [d["index"] for d in deltas]
        assert indexes == sorted(indexes), f"tool calls interleaved: {indexes}"
        expected = self.expected_tool_calls(self.scenario)
        assert sorted(set(indexes)) == list(range(len(expected)))
        got = []
        for index in range(len(expected)):
            own = [d for d in deltas if d["index"] == index]
            first, rest = own[0], own[1:]
            assert first.get("id"), f"the first delta of a call has its id: {first}"
            assert first.get("type") == "function", first
            assert first["function"].get("name"), "the first delta of a call names it"
            assert all(not d.get("id") and not d["function"].get("name") for d in rest), own
            arguments = "".join(d["function"].get("arguments") or "" for d in own)
            got.append((first["function"]["name"], tool_arguments(arguments)))
        assert got == expected
        assert len({d["id"] for d in deltas if d.get("id")}) == len(expected)
        (usage_chunk,) = usage_chunks(chunks)
        self._assert_usage(usage_chunk["usage"], self.expected_usage(self.scenario, tools=True))

    # --- usage -----------------------------------------------------------------------------

    def test_usage_is_reported_and_recorded_for_answers_and_streams(
        self, conf: Conformance
    ) -> None:
        prompt, completion = self.expected_usage(self.scenario, tools=False)
        for stream in (False, True):
            reply = self.stream if stream else self.answer
            self._script(conf, reply, tools=False)
            body = self._body(stream=stream, model=_USAGE_MODEL)
            response, request_id = self._post(conf, body)
            assert response.status_code == 200, response.text
            event = conf.recorder.wait(request_id)
            assert (event.status, event.stream, event.model) == (200, stream, _USAGE_MODEL)
            assert event.usage is not None, "the adapter reported no usage"
            assert (event.usage.prompt_tokens, event.usage.completion_tokens) == (
                prompt,
                completion,
            )
        # the registry's usage records (written in batches, about once a second)
        deadline = time.monotonic() + 30
        while True:
            answer = conf.http.get("/admin/usage", params={"model": _USAGE_MODEL})
            assert answer.status_code == 200, answer.text
            totals = answer.json()["totals"]
            if totals["requests"] >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        got = (totals["requests"], totals["prompt_tokens"], totals["completion_tokens"])
        assert got == (2, 2 * prompt, 2 * completion)

    # --- errors ----------------------------------------------------------------------------

    @pytest.mark.parametrize("mode", ["answer", "stream"])
    @pytest.mark.parametrize("status", [400, 401, 429, 500, 503])
    def test_upstream_error(self, conf: Conformance, status: int, mode: str) -> None:
        self._require_upstream()
        message = f"conformance says no ({status})"
        retry_after = 7 if status == 429 else None
        conf.upstream.script(self.error(status, message, retry_after=retry_after))
        response, _ = self._post(conf, self._body(stream=mode == "stream"))
        want_status, want_type = self.error_contract[status]
        assert response.status_code == want_status, response.text
        assert response.headers["content-type"].startswith("application/json")
        error = response.json()["error"]
        assert set(error) >= {"message", "type", "param", "code"}, error
        assert isinstance(error["message"], str)
        assert error["message"]
        assert error["type"] == want_type, error
        if status == 400:
            assert message in error["message"], "the client sees why its request was refused"
        if status == 429:
            assert response.headers.get("retry-after") == "7"
        self._check_no_secret(response)

    # --- a client that leaves --------------------------------------------------------------

    def test_client_leaving_a_stream_closes_the_upstream(self, conf: Conformance) -> None:
        self._require_upstream()
        reply = self.stream(self.scenario, tools=False)
        assert reply.events is not None
        assert len(reply.events) >= 3, "the stream needs at least 3 events"
        reply.hang_after = len(reply.events) - 1  # the upstream goes silent before the end
        conf.upstream.script(reply)
        with conf.http.stream("POST", "/v1/chat/completions", json=self._body(stream=True)) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    break  # got a chunk: now leave
        (sent,) = conf.upstream.wait_arrived(1)
        assert sent.done.wait(30), "the upstream request is still open after the client left"
        assert sent.disconnected, "the gateway let the upstream answer finish"
