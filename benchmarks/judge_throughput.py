"""Judged items per second of the API judge at several concurrency levels, against sequential requests, in one run.

    sudo-less root shell:  .venv/bin/python benchmarks/judge_throughput.py [--items 12] [--levels 1,2,4,8] [--delay-ms 100]

Two settings, same questions:
1. `local`: the llama-cpp-python server (SmolLM2 GGUF) on 127.0.0.1. It generates one request at a
   time, so concurrency can only hide the client's own overhead.
2. `latency`: the same server in a network namespace of this benchmark's own, reached over a veth pair,
   with `--delay-ms` of one-way delay in each direction, the way a hosted API sits behind a network.
   The delay comes from `tc netem` when the kernel has it; otherwise (some VMs ship without sch_netem)
   from a userspace proxy that holds every chunk for the delay in each direction. The report says which.
   Needs root for `ip netns`; without it the server stays on 127.0.0.1 and only the proxy adds delay.

An item is one prompt with two candidates judged pairwise in both orders (2 requests). Each level gets a
fresh in-memory cache, so every level asks every question.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from llama_server import LlamaServer, free_port  # noqa: E402

from dno.config import load_config  # noqa: E402
from dno.judges import build_judge  # noqa: E402
from dno.tasks import _finish, synthetic_pool  # noqa: E402

NS, VETH_HOST, VETH_NS = "dnobench", "dnobench0", "dnobench1"
HOST_IP, NS_IP = "10.231.7.1", "10.231.7.2"


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True)


def netns_up() -> bool:
    if os.geteuid() != 0:
        return False
    netns_down()
    try:
        sh("ip", "netns", "add", NS)
        sh("ip", "link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS)
        sh("ip", "link", "set", VETH_NS, "netns", NS)
        sh("ip", "addr", "add", f"{HOST_IP}/24", "dev", VETH_HOST)
        sh("ip", "link", "set", VETH_HOST, "up")
        sh("ip", "netns", "exec", NS, "ip", "addr", "add", f"{NS_IP}/24", "dev", VETH_NS)
        sh("ip", "netns", "exec", NS, "ip", "link", "set", VETH_NS, "up")
        sh("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up")
        return True
    except subprocess.CalledProcessError as e:
        print(f"network namespace unavailable ({e.stderr.strip()}); using 127.0.0.1", file=sys.stderr)
        netns_down()
        return False


def netns_down() -> None:
    sh("ip", "link", "del", VETH_HOST, check=False)
    sh("ip", "netns", "del", NS, check=False)


def try_netem(delay_ms: int) -> bool:
    a = sh("tc", "qdisc", "add", "dev", VETH_HOST, "root", "netem", "delay", f"{delay_ms}ms", check=False)
    b = sh(
        "ip",
        "netns",
        "exec",
        NS,
        "tc",
        "qdisc",
        "add",
        "dev",
        VETH_NS,
        "root",
        "netem",
        "delay",
        f"{delay_ms}ms",
        check=False,
    )
    return a.returncode == 0 and b.returncode == 0


class DelayProxy:
    """127.0.0.1:port → upstream, every chunk delivered `delay` seconds after it arrived, in order."""

    def __init__(self, upstream_host: str, upstream_port: int, delay: float):
        self.up, self.delay, self.port = (upstream_host, upstream_port), delay, free_port()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result()

    async def _serve(self):
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", self.port)

    async def _pipe(self, reader, writer):
        queue: asyncio.Queue = asyncio.Queue()

        async def deliver():
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - self.loop.time()))
                if data is None:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()

        task = asyncio.ensure_future(deliver())
        try:
            while data := await reader.read(65536):
                queue.put_nowait((self.loop.time() + self.delay, data))
        except ConnectionError:
            pass
        queue.put_nowait((self.loop.time() + self.delay, None))
        await task

    async def _conn(self, creader, cwriter):
        ureader, uwriter = await asyncio.open_connection(*self.up)
        await asyncio.gather(self._pipe(creader, uwriter), self._pipe(ureader, cwriter), return_exceptions=True)

    def close(self):
        self.loop.call_soon_threadsafe(self.server.close)


def items(n: int) -> list[tuple[dict, list[str]]]:
    out = []
    for i, r in enumerate(synthetic_pool(n, {"arithmetic": 1}, 99)):
        p = _finish(dict(r), f"bench-{i}")
        out.append((p, [str(p["answer"]), f"The answer is {p['answer'] + 1}."]))
    return out


def measure(base_url: str, level: int, work) -> tuple[float, float]:
    os.environ.setdefault("DNO_BENCH_KEY", "unused")
    cfg = load_config(
        None,
        [
            f"judge.{k}={v}"
            for k, v in {
                "type": "api",
                "base_url": base_url,
                "model": "smollm2",
                "api_key_env": "DNO_BENCH_KEY",
                "mode": "pairwise",
                "concurrency": level,
                "timeout_s": 120,
                "max_retries": 2,
                "backoff_s": 0.2,
            }.items()
        ],
    ).judge
    judge = build_judge(cfg, cache_dir=None)  # fresh in-memory cache: every question is asked
    t0 = time.perf_counter()
    judge.score_many([p for p, _ in work], [c for _, c in work])
    secs = time.perf_counter() - t0
    assert judge.usage()["requests_sent"] >= 2 * len(work)
    return len(work) / secs, judge.usage()["requests_sent"] / secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=12)
    ap.add_argument("--levels", default="1,2,4,8")
    ap.add_argument("--delay-ms", type=int, default=100, help="one-way delay each direction (RTT = 2x)")
    ap.add_argument("--threads", type=int, default=1, help="llama.cpp threads")
    ap.add_argument("--save", action="store_true", help="keep the figures in docs/results/bench_judge_throughput.json")
    args = ap.parse_args()
    from record import Record

    rec = Record("judge_throughput")
    levels = [int(x) for x in args.levels.split(",")]
    work = items(args.items)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        server = LlamaServer(Path(tmp) / "local", threads=args.threads).start()
        try:
            measure(server.base_url, 1, work[:1])  # warm-up
            for lv in levels:
                rows.append(("local 127.0.0.1", lv, *measure(server.base_url, lv, work)))
        finally:
            server.kill()
        ns = netns_up()
        how = "none"
        try:
            host = NS_IP if ns else "127.0.0.1"
            server = LlamaServer(Path(tmp) / "ns", host=host, threads=args.threads, netns=NS if ns else None).start()
            proxy = None
            if ns and try_netem(args.delay_ms):
                url, how = server.base_url, f"tc netem {args.delay_ms} ms each way over veth"
            else:
                proxy = DelayProxy(host, server.port, args.delay_ms / 1000)
                url = f"http://127.0.0.1:{proxy.port}/v1"
                how = (
                    f"userspace delay proxy {args.delay_ms} ms each way, in front of "
                    + ("a veth pair into a network namespace" if ns else "127.0.0.1")
                    + " (this kernel has no sch_netem)"
                )
            measure(url, 1, work[:1])
            for lv in levels:
                rows.append((f"+{2 * args.delay_ms} ms RTT", lv, *measure(url, lv, work)))
            if proxy:
                proxy.close()
        finally:
            server.kill()
            if ns:
                netns_down()
    seq = {r[0]: r[2] for r in rows if r[1] == 1}
    rec.table(
        "throughput",
        ["setting", "concurrency", "items/s", "requests/s", "vs sequential"],
        [
            [name, f"{lv}{' (sequential)' if lv == 1 else ''}", f"{ips:.2f}", f"{rps:.2f}", f"{ips / seq[name]:.2f}x"]
            for name, lv, ips, rps in rows
        ],
        note=f"{args.items} items (pairwise, both orders = 2 requests each), llama.cpp server with SmolLM2-135M Q4_1, "
        f"{args.threads} thread(s); latency: {how}",
    )
    best = {name: max(ips / seq[name] for n, _, ips, _ in rows if n == name) for name in seq}
    rec.headline_row(
        "API judge, concurrent vs sequential (best level)",
        "; ".join(f"**{x:.1f}x** {name}" for name, x in best.items()),
    )
    rec.finish(args.save, raw=rows)


if __name__ == "__main__":
    main()
