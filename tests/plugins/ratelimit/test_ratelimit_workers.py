"""Exactness across worker processes: ``plugbay serve --workers 4`` as a real subprocess."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from plugbay.testing import ServeProcess, install_plugin

FAKE_PLUGIN = "from plugbay.testing.fake import plugbay_register_adapters\n"

MASTER = "sk-test-master-key-0123456789"
CONFIG = """
[auth]
master_key = "{master}"

[server]
database = "{db}"

[[providers]]
name = "local"
type = "fake"

[[models]]
name = "small"
provider = "local"

[ratelimit.keys.master]
rpm = 20
"""


async def fire(url: str, count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        body = {"model": "small", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"authorization": f"Bearer {MASTER}"}
        return await asyncio.gather(
            *(
                client.post(url + "/v1/chat/completions", json=body, headers=headers)
                for _ in range(count)
            )
        )


@pytest.mark.slow
def test_four_workers_admit_exactly_the_limit(tmp_path: Path):
    site = install_plugin(tmp_path / "site", "local_fake", FAKE_PLUGIN)
    config = tmp_path / "plugbay.toml"
    config.write_text(CONFIG.format(master=MASTER, db=tmp_path / "plugbay.db"))
    env = {"PLUGBAY_PLUGINS": "local_fake,ratelimit", "PYTHONPATH": str(site)}
    server = ServeProcess("--config", str(config), "--workers", "4", cwd=tmp_path, env=env)
    try:
        server.start(60, ready_workers=4)  # every worker answered before the burst
        answers = asyncio.run(fire(server.url, 100))
    finally:
        server.stop()
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 20 + [429] * 80
    ok = [a for a in answers if a.status_code == 200]
    # one shared window: each admission saw the one before it, whichever worker served it
    assert sorted(int(a.headers["x-ratelimit-remaining-requests"]) for a in ok) == list(range(20))
    for refused in (a for a in answers if a.status_code == 429):
        assert refused.json()["error"]["code"] == "rate_limit_exceeded"
        assert refused.headers["x-ratelimit-limit-requests"] == "20"
        assert refused.headers["x-ratelimit-remaining-requests"] == "0"
        assert int(refused.headers["retry-after"]) >= 1
    assert (tmp_path / "plugbay.ratelimit").is_file()
