"""A fast fake OpenAI upstream for benchmarks: canned answers from a bare asyncio protocol.

It must never be the bottleneck, so it does no JSON work: a chat completion answer, or a
20-chunk SSE stream when the body says ``"stream":true``, from precomputed bytes.
"""

from __future__ import annotations

import argparse
import asyncio

import msgspec

CHUNKS = 20

_ANSWER = msgspec.json.encode(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello! How can I help?",
                    "refusal": None,
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 7,
            "total_tokens": 19,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
        "system_fingerprint": "fp_bench",
    }
)
RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(_ANSWER)).encode()
    + b"\r\n\r\n"
    + _ANSWER
)


def _chunk(delta: dict[str, object], finish: str | None = None, usage: bool = False) -> bytes:
    body: dict[str, object] = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 12, "completion_tokens": CHUNKS, "total_tokens": 32}
    data = b"data: " + msgspec.json.encode(body) + b"\n\n"
    return hex(len(data))[2:].encode() + b"\r\n" + data + b"\r\n"


STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)
STREAM_FIRST = _chunk({"role": "assistant", "content": ""})
STREAM_REST = [_chunk({"content": f" word{i}"}) for i in range(CHUNKS - 2)]
STREAM_END = _chunk({}, "stop") + _chunk({}, usage=True) + b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n"


class Upstream(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            length = 0
            for line in self.buffer[:head_end].lower().split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    length = int(line[15:])
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            body, self.buffer = self.buffer[head_end + 4 : end], self.buffer[end:]
            assert self.transport is not None
            if b'"stream":true' in body or b'"stream": true' in body:
                self.transport.write(
                    STREAM_HEAD + STREAM_FIRST + b"".join(STREAM_REST) + STREAM_END
                )
            else:
                self.transport.write(RESPONSE)


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, "127.0.0.1", port, backlog=4096)
    print(f"bench upstream on 127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=4011)
    parser.add_argument(
        "--interval", type=float, default=0.0, help="seconds between stream chunks (0: all at once)"
    )
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(args.port))
