"""The scripted upstream's default: a small OpenAI-compatible server.

``openai_default`` answers ``/v1/chat/completions`` (echoing the last user message, streamed
when asked, with usage) and ``/v1/embeddings`` in OpenAI's wire format. ``chat_reply`` and
``embeddings_reply`` build those answers for scripting. ``python -m
plugbay.testing.openai_upstream --port N`` runs one on its own.
"""

from __future__ import annotations

import base64
import contextlib
import struct
import threading
from typing import Any

from plugbay.testing.upstream import RecordedRequest, Reply, ScriptedUpstream

__all__ = ["chat_reply", "embeddings_reply", "openai_default"]


def openai_default(request: RecordedRequest) -> Reply:
    """Answers ``/v1/chat/completions`` (echoing, streaming if asked) and ``/v1/embeddings``."""
    if request.path.endswith("/chat/completions"):
        return chat_reply(request.json())
    if request.path.endswith("/embeddings"):
        return embeddings_reply(request.json())
    if request.path.endswith("/models"):
        return Reply.json({"object": "list", "data": []})
    return Reply.error(404, f"Unknown path {request.path}", code="not_found")


def chat_reply(body: dict[str, Any], text: str | None = None) -> Reply:
    """OpenAI's answer to ``body``: the last user message (or ``text``), whole or streamed."""
    model = body.get("model", "unknown")
    if text is None:
        last: dict[str, Any] = next(
            (m for m in reversed(body.get("messages", [])) if m.get("role") == "user"), {}
        )
        content = last.get("content") or ""
        text = (
            content
            if isinstance(content, str)
            else " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        )
    words = text.split()
    usage = {
        "prompt_tokens": 10,
        "completion_tokens": len(words),
        "total_tokens": 10 + len(words),
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    created = 1_700_000_000
    if not body.get("stream"):
        return Reply.json(
            {
                "id": "chatcmpl-scripted",
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": text,
                            "refusal": None,
                            "annotations": [],
                        },
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
                "service_tier": "default",
                "system_fingerprint": "fp_scripted",
            }
        )
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    base = {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_scripted",
    }
    extra = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            **base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            **extra,
        }

    events: list[Any] = [chunk({"role": "assistant", "content": "", "refusal": None})]
    events += [chunk({"content": w if i == 0 else " " + w}) for i, w in enumerate(words)]
    events.append(chunk({}, "stop"))
    if include_usage:
        events.append({**base, "choices": [], "usage": usage})
    events.append(b"data: [DONE]\n\n")
    return Reply.sse(events)


def embeddings_reply(body: dict[str, Any]) -> Reply:
    inputs = body.get("input")
    items = [inputs] if isinstance(inputs, str) else list(inputs or [])
    size = int(body.get("dimensions") or 3)
    data = []
    for index, _ in enumerate(items):
        vector = [round(0.1 * (index + 1) * (d + 1), 4) for d in range(size)]
        embedding: Any = vector
        if body.get("encoding_format") == "base64":
            embedding = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    return Reply.json(
        {
            "object": "list",
            "data": data,
            "model": body.get("model"),
            "usage": {"prompt_tokens": 4 * len(items), "total_tokens": 4 * len(items)},
        }
    )


def main() -> None:  # pragma: no cover - used by the benchmark
    import argparse
    import signal

    parser = argparse.ArgumentParser(description="A standalone scripted OpenAI upstream.")
    parser.add_argument("--port", type=int, default=4010)
    args = parser.parse_args()
    upstream = ScriptedUpstream(port=args.port).start()
    print(f"scripted upstream on {upstream.url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    upstream.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
