"""The bare pass-through `nox -s bench` measures plugbay against: Litestar + aiohttp alone.

``POST /v1/chat/completions`` forwards the body to the upstream on one pooled aiohttp session
and answers with the upstream's bytes: no auth, no validation, no usage, no limits. What a
hand-written relay on the same stack costs, run by uvicorn exactly as ``plugbay serve`` runs
(one process, uvloop, httptools).
"""

from __future__ import annotations

import argparse

import aiohttp
import uvicorn
from litestar import Litestar, Request, Response, get, post
from yarl import URL


def build(upstream: str) -> Litestar:
    url = URL(upstream.rstrip("/") + "/chat/completions")
    headers = {"content-type": "application/json", "authorization": "Bearer sk-upstream"}
    sessions: list[aiohttp.ClientSession] = []

    async def start() -> None:
        sessions.append(
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, limit_per_host=0),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        )

    async def stop() -> None:
        await sessions[0].close()

    @post("/v1/chat/completions")
    async def relay(request: Request) -> Response[bytes]:
        body = await request.body()
        async with sessions[0].post(url, data=body, headers=headers) as answer:
            content = await answer.read()
            return Response(content, status_code=answer.status, media_type="application/json")

    @get("/health/ready", sync_to_thread=False)
    def ready() -> dict[str, str]:
        return {"status": "ok"}

    return Litestar(
        [relay, ready],
        on_startup=[start],
        on_shutdown=[stop],
        openapi_config=None,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:4711/v1")
    args = parser.parse_args()
    uvicorn.run(
        build(args.upstream),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )
