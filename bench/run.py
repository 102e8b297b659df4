"""``nox -s bench``: plugbay against the bare upstream, in one run, on this machine.

Layout on a 2-core machine: the gateway (one worker) alone on core 0; the fake upstream and
the load generator (wrk) on core 1. Every figure is measured twice — straight to the upstream,
then through plugbay — so the difference is what plugbay adds.

The first table, the hot path, puts four targets side by side at saturation: the bare
upstream, a bare Litestar + aiohttp pass-through (``bench/passthrough.py``), plugbay with no
policies and plugbay with keys + rate limits + usage. They run at the same time (only the one
under load is busy), in interleaved rounds, so a noisy neighbour hits every row alike; each
figure is the median of the rounds, and CPU per request (the target process's CPU time over
the requests it served) is the figure that noise moves least.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).parent
MASTER = "sk-bench-master-key-0123456789"
BODY = '{"model":"bench","messages":[{"role":"user","content":"Hello there, how are you?"}]}'
STREAM_BODY = BODY[:-1] + ',"stream":true}'
GATEWAY_CORE, LOAD_CORE = "0", "1"


def taskset(core: str) -> list[str]:
    return ["taskset", "-c", core] if shutil.which("taskset") and os.cpu_count() != 1 else []


def wait_http(url: str, timeout: float = 20.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.01)
    raise TimeoutError(url)


def wrk(
    url: str,
    body: str,
    connections: int,
    seconds: int,
    path: Path,
    headers: dict[str, str] | None = None,
) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {MASTER}", **(headers or {})}
    script = path / f"wrk-{abs(hash((body, tuple(headers.items()))))}.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = [[{body}]]\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        + "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
    )
    out = subprocess.run(
        [
            *taskset(LOAD_CORE),
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    requests = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"wrk saw {non2xx[1]} error answers from {url}:\n{out}")

    def percentile(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    return {"rps": rps, "requests": requests, "p50": percentile("50"), "p99": percentile("99")}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


async def _stream_timings(
    host: str, port: int, path: str, count: int
) -> tuple[list[float], list[float]]:
    reader, writer = await asyncio.open_connection(host, port)
    request = (
        f"POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer {MASTER}\r\ncontent-length: {len(STREAM_BODY)}\r\n\r\n"
        f"{STREAM_BODY}"
    ).encode()
    firsts, totals = [], []
    for _ in range(count):
        started = time.perf_counter()
        writer.write(request)
        seen = b""
        first = None
        while not seen.endswith(b"0\r\n\r\n") or b"[DONE]" not in seen:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("closed mid-stream")
            if first is None and b"data:" in data:
                first = time.perf_counter()
            seen += data
        totals.append((time.perf_counter() - started) * 1e3)
        firsts.append(((first or time.perf_counter()) - started) * 1e3)
    writer.close()
    return firsts, totals


def stream_timings(port: int, path: str, count: int) -> dict[str, float]:
    firsts, totals = asyncio.run(_stream_timings("127.0.0.1", port, path, count))
    firsts, totals = firsts[count // 10 :], totals[count // 10 :]  # drop warm-up
    q = statistics.quantiles
    return {
        "ttfc_p50": statistics.median(firsts),
        "ttfc_p99": q(firsts, n=100)[98],
        "total_p50": statistics.median(totals),
        "total_p99": q(totals, n=100)[98],
    }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


POLICIES = "ratelimit,cache,redis"
"""Policy plugins kept out of every gateway but the policy rows' (installing one enables it)."""
RATELIMIT = (
    '\n[ratelimit.keys."*"]\nrpm = 1000000000\ntpm = 1000000000000\n'
    "[ratelimit.models.bench]\nrpm = 1000000000\ntpm = 1000000000000\n"
    "key_rpm = 1000000000\nkey_tpm = 1000000000000\n"
)
CACHE = "\n[cache]\nenabled = true\n"
"""plugbay-cache caches nothing until the operator opts in."""


def start_gateway(
    work: Path,
    port: int,
    up_port: int,
    server_extra: str = "",
    extra: str = "",
    disabled: str = POLICIES,
) -> tuple[subprocess.Popen[bytes], float]:
    config = work / f"bench-{port}.toml"
    config.write_text(
        f'[server]\ndatabase = "{work / f"bench-{port}.db"}"\nlog_level = "warning"\n'
        f"{server_extra}\n\n"
        f'[[providers]]\nname = "up"\ntype = "openai"\n'
        f'base_url = "http://127.0.0.1:{up_port}/v1"\napi_key = "sk-upstream"\n\n'
        '[[models]]\nname = "bench"\nprovider = "up"\nupstream_model = "gpt-4o-mini"\n' + extra
    )
    env = {**os.environ, "PLUGBAY_MASTER_KEY": MASTER, "PLUGBAY_DISABLE_PLUGINS": disabled}
    started = time.perf_counter()
    gateway = subprocess.Popen(
        [
            *taskset(GATEWAY_CORE),
            sys.executable,
            "-m",
            "plugbay",
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health/ready")
    except BaseException:
        gateway.kill()
        raise
    return gateway, time.perf_counter() - started


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(30)


def policy_rows(
    work: Path, port: int, up_port: int, seconds: int, off: dict[str, float]
) -> list[tuple[str, dict[str, float]]]:
    """Each policy on vs. off: keys (a virtual key), ratelimit (limits never reached: every
    decision is made), cache (misses that store, then hits), and all three."""
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    no_cache = {"Cache-Control": "no-cache"}  # skips the lookup, still stores: a miss's cost
    found: list[tuple[str, dict[str, float]]] = [("all policies off (master key)", off)]
    gateway, _ = start_gateway(work, port, up_port, extra=RATELIMIT + CACHE, disabled="redis")
    try:
        admin = {"authorization": f"Bearer {MASTER}"}
        created = httpx.post(
            f"http://127.0.0.1:{port}/admin/keys", json={"name": "bench"}, headers=admin
        )
        key = {"Authorization": f"Bearer {created.json()['key']}"}
        found.append(
            (
                "keys + ratelimit + cache miss",
                wrk(url, BODY, 16, seconds, work, {**key, **no_cache}),
            )
        )
        found.append(("keys + ratelimit + cache hit", wrk(url, BODY, 16, seconds, work, key)))
        found.append(
            ("ratelimit + cache miss (master key)", wrk(url, BODY, 16, seconds, work, no_cache))
        )
    finally:
        stop(gateway)
    gateway, _ = start_gateway(work, port, up_port, extra=RATELIMIT, disabled="cache,redis")
    try:
        found.append(("ratelimit only (3 scopes, tokens)", wrk(url, BODY, 16, seconds, work)))
        admin = {"authorization": f"Bearer {MASTER}"}
        spec = {"name": "budgeted", "max_budget": 1e6, "max_parallel": 10_000}
        created = httpx.post(f"http://127.0.0.1:{port}/admin/keys", json=spec, headers=admin)
        key = {"Authorization": f"Bearer {created.json()['key']}"}
        found.append(
            ("keys + ratelimit, budget + max_parallel", wrk(url, BODY, 16, seconds, work, key))
        )
    finally:
        stop(gateway)
    gateway, _ = start_gateway(work, port, up_port, extra=CACHE, disabled="ratelimit,redis")
    try:
        found.append(("cache only, miss + store", wrk(url, BODY, 16, seconds, work, no_cache)))
        found.append(("cache only, hit (no upstream call)", wrk(url, BODY, 16, seconds, work)))
    finally:
        stop(gateway)
    return found


HOTPATH = (
    "bare upstream",
    "bare pass-through (Litestar + aiohttp)",
    "plugbay, no policies, router off",
    "plugbay, no policies",
    "plugbay, keys + rate limits + usage",
)
ROUTER_OFF = "\n[router]\nenabled = false\n"
"""The router's cost is "no policies" against this row (one deployment, so no strategy)."""


def start_passthrough(port: int, up_port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            *taskset(GATEWAY_CORE),
            sys.executable,
            str(HERE / "passthrough.py"),
            "--port",
            str(port),
            "--upstream",
            f"http://127.0.0.1:{up_port}/v1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health/ready")
    except BaseException:
        process.kill()
        raise
    return process


def hotpath_rows(
    work: Path,
    port: int,
    upstream: subprocess.Popen[bytes],
    up_port: int,
    seconds: int,
    rounds: int,
    connections: tuple[int, ...],
) -> dict[tuple[str, int], dict[str, float]]:
    """The :data:`HOTPATH` targets, non-streaming, in interleaved rounds: medians."""
    path = "/v1/chat/completions"
    started: list[subprocess.Popen[bytes]] = []
    try:
        started.append(start_passthrough(port, up_port))
        started.append(start_gateway(work, port + 1, up_port)[0])
        started.append(
            start_gateway(work, port + 2, up_port, extra=RATELIMIT, disabled="cache,redis")[0]
        )
        started.append(start_gateway(work, port + 3, up_port, extra=ROUTER_OFF)[0])
        admin = {"authorization": f"Bearer {MASTER}"}
        created = httpx.post(
            f"http://127.0.0.1:{port + 2}/admin/keys", json={"name": "bench"}, headers=admin
        )
        key = {"Authorization": f"Bearer {created.json()['key']}"}
        targets = [
            (HOTPATH[0], f"http://127.0.0.1:{up_port}{path}", upstream.pid, {}),
            (HOTPATH[1], f"http://127.0.0.1:{port}{path}", started[0].pid, {}),
            (HOTPATH[2], f"http://127.0.0.1:{port + 3}{path}", started[3].pid, {}),
            (HOTPATH[3], f"http://127.0.0.1:{port + 1}{path}", started[1].pid, {}),
            (HOTPATH[4], f"http://127.0.0.1:{port + 2}{path}", started[2].pid, key),
        ]
        for _, url, _, headers in targets:  # warm-up: pools, caches, the first key lookups
            wrk(url, BODY, 16, 1, work, headers)
        runs: dict[tuple[str, int], list[dict[str, float]]] = {}
        for turn in range(rounds):
            for conns in connections:
                shift = turn % len(targets)
                for name, url, pid, headers in targets[shift:] + targets[:shift]:
                    before = cpu_seconds(pid)
                    figures = wrk(url, BODY, conns, seconds, work, headers)
                    figures["cpu_ms"] = (cpu_seconds(pid) - before) / figures["requests"] * 1e3
                    runs.setdefault((name, conns), []).append(figures)
    finally:
        for process in started:
            stop(process)
    return {
        row: {k: statistics.median(f[k] for f in found) for k in found[0]}
        for row, found in runs.items()
    }


def print_hotpath(
    table: dict[tuple[str, int], dict[str, float]], rounds: int, connections: tuple[int, ...]
) -> None:
    print(
        f"\n| hot path (non-streaming), median of {rounds} interleaved rounds | conns | req/s "
        "| CPU ms / request | p50 / p99 ms | req/s vs pass-through |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for conns in connections:
        bare = table[(HOTPATH[1], conns)]["rps"]
        for name in HOTPATH:
            f = table[(name, conns)]
            print(
                f"| {name} | {conns} | {f['rps']:,.0f} | {f['cpu_ms']:.3f} "
                f"| {f['p50']:.2f} / {f['p99']:.2f} | {f['rps'] / bare:.2f}x |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8, help="per wrk run")
    parser.add_argument("--streams", type=int, default=400, help="streams timed per target")
    parser.add_argument("--rounds", type=int, default=3, help="hot-path rounds (medians)")
    parser.add_argument(
        "--hotpath-only", action="store_true", help="only the hot-path table (quicker)"
    )
    args = parser.parse_args()
    connections = (16, 64)
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="plugbay-bench-"))
    up_port, gw_port = 4711, 4712
    upstream = subprocess.Popen(
        [*taskset(LOAD_CORE), sys.executable, str(HERE / "upstream.py"), "--port", str(up_port)],
        stdout=subprocess.DEVNULL,
    )
    up_url = f"http://127.0.0.1:{up_port}/v1/chat/completions"
    gw_url = f"http://127.0.0.1:{gw_port}/v1/chat/completions"
    transports = []
    try:
        wait_http(f"http://127.0.0.1:{up_port}/health")
        hot = hotpath_rows(
            work, gw_port + 10, upstream, up_port, args.seconds, args.rounds, connections
        )
        if args.hotpath_only:
            print_hotpath(hot, args.rounds, connections)
            return
        gateway, startup = start_gateway(work, gw_port, up_port)
        try:
            time.sleep(0.5)
            idle = rss_mb(gateway.pid)
            rows = []
            for name, body in (("non-streaming", BODY), ("streaming (20 chunks)", STREAM_BODY)):
                for conns in (1, 16):
                    direct = wrk(up_url, body, conns, args.seconds, work)
                    through = wrk(gw_url, body, conns, args.seconds, work)
                    rows.append((name, conns, direct, through))
            direct_s = stream_timings(up_port, "/v1/chat/completions", args.streams)
            through_s = stream_timings(gw_port, "/v1/chat/completions", args.streams)
            busy = rss_mb(gateway.pid)
            transports.append(("aiohttp (default)", rows[1][3]))
        finally:
            stop(gateway)
        gateway, _ = start_gateway(work, gw_port + 1, up_port, 'http_transport = "httpx"')
        try:
            transports.append(
                (
                    "httpx's own pool",
                    wrk(
                        f"http://127.0.0.1:{gw_port + 1}/v1/chat/completions",
                        BODY,
                        16,
                        args.seconds,
                        work,
                    ),
                )
            )
        finally:
            stop(gateway)
        policies = policy_rows(work, gw_port + 2, up_port, args.seconds, rows[1][3])
    finally:
        stop(upstream)
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"\nPython {sys.version.split()[0]}, {os.cpu_count()} cores; gateway (1 worker) on "
        f"core {GATEWAY_CORE}, upstream + wrk on core {LOAD_CORE}; {args.seconds} s per run\n"
    )
    print_hotpath(hot, args.rounds, connections)
    print(
        "\n| workload | conns | upstream req/s | plugbay req/s | upstream p50 / p99 ms "
        "| plugbay p50 / p99 ms | added p50 ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, conns, d, t in rows:
        print(
            f"| {name} | {conns} | {d['rps']:,.0f} | {t['rps']:,.0f} | {d['p50']:.2f} / "
            f"{d['p99']:.2f} | {t['p50']:.2f} / {t['p99']:.2f} | {t['p50'] - d['p50']:.2f} |"
        )
    print(
        "\n| stream, 1 connection | upstream p50 / p99 ms | plugbay p50 / p99 ms | added p50 ms |"
    )
    print("|---|---:|---:|---:|")
    for label, key in (("time to first chunk", "ttfc"), ("20-chunk stream total", "total")):
        d50, d99 = direct_s[f"{key}_p50"], direct_s[f"{key}_p99"]
        t50, t99 = through_s[f"{key}_p50"], through_s[f"{key}_p99"]
        print(f"| {label} | {d50:.2f} / {d99:.2f} | {t50:.2f} / {t99:.2f} | {t50 - d50:.2f} |")
    print("\n| upstream transport (non-streaming, 16 conns) | req/s | p50 / p99 ms |")
    print("|---|---:|---:|")
    for label, figures in transports:
        print(f"| {label} | {figures['rps']:,.0f} | {figures['p50']:.2f} / {figures['p99']:.2f} |")
    print("\n| policies (non-streaming, 16 conns) | req/s | p50 / p99 ms | added p50 ms |")
    print("|---|---:|---:|---:|")
    off = rows[1][3]
    for label, figures in policies:
        print(
            f"| {label} | {figures['rps']:,.0f} | {figures['p50']:.2f} / {figures['p99']:.2f} "
            f"| {figures['p50'] - off['p50']:.2f} |"
        )
    print(
        f"\nstart-up to ready: {startup:.2f} s; worker RSS idle {idle:.0f} MB, "
        f"after the runs {busy:.0f} MB"
    )


if __name__ == "__main__":
    main()
