"""Gateway throughput and latency against the real PostgreSQL and Redis, compared with a bare FastAPI app.

What it does (bounded in request count and time, loopback only):
1. creates a scratch database ``rtbf_bench_<pid>``, migrates it, registers a model and an API key;
2. serves the gateway with uvicorn (one process) on 127.0.0.1, and a bare FastAPI app the same way;
3. drives both with a pool of client threads (one keep-alive httpx client each) and prints, for
   ticket intake (POST /v1/tickets) and status polling (GET /v1/tickets/{id}) against bare POST / GET
   endpoints: requests/s, p50 and p99 latency, and the gateway/bare throughput ratio;
4. drops the scratch database and flushes the Redis db it used.

Run from the repository root: ``.venv/bin/python benchmarks/bench_api.py [--intake 400] [--polls 1000]
[--concurrency 8]``.
It is a benchmark, not a test: it asserts nothing, it measures.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
REDIS_DB = 13

# The bare app: what FastAPI + uvicorn cost with no database, auth or validation beyond a dict body.
try:
    from fastapi import FastAPI

    bare_app = FastAPI()

    @bare_app.get("/bare/{item_id}")
    def bare_get(item_id: str) -> dict[str, str]:
        return {"id": item_id, "status": "queued"}

    @bare_app.post("/bare", status_code=202)
    def bare_post(body: dict) -> dict[str, str]:
        return {"id": "0", "status": "queued"}
except ImportError:  # pragma: no cover - the venv has fastapi
    bare_app = None


@dataclass
class Result:
    name: str
    count: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        data = sorted(self.latencies_ms)
        if not data:
            return float("nan")
        return data[min(len(data) - 1, int(round(q / 100 * (len(data) - 1))))]

    def row(self) -> str:
        return (f"{self.name:<28} {self.count:>6} {self.errors:>5} {self.rps:>9.1f} "
                f"{self.pct(50):>9.2f} {self.pct(99):>9.2f}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, timeout: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not come up within {timeout}s")


def serve(app_ref: str, port: int, env: dict[str, str], app_dir: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "uvicorn", app_ref, "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning", "--no-access-log", "--app-dir", str(app_dir)]
    if app_ref.endswith("create_app"):
        cmd.append("--factory")
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def drive(name: str, base_url: str, total: int, concurrency: int,
          make_request: Callable[[object, int], object], time_limit: float) -> Result:
    """Send ``total`` requests from ``concurrency`` threads; stop early at ``time_limit`` seconds."""
    import httpx

    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(total))
    deadline = time.monotonic() + time_limit

    def worker() -> None:
        nonlocal errors
        with httpx.Client(base_url=base_url, timeout=30.0) as client:
            while time.monotonic() < deadline:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                t0 = time.perf_counter()
                response = make_request(client, i)
                elapsed = (time.perf_counter() - t0) * 1000
                with lock:
                    latencies.append(elapsed)
                    if response.status_code >= 400:
                        errors += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Result(name, len(latencies), errors, time.perf_counter() - started, latencies)


def ticket_body(i: int) -> dict:
    phone = f"+1 415-555-{i % 10000:04d}"
    text = f"Call Bench Person {i} at {phone} about the order."
    start = text.index(phone)
    return {
        "subject": {"name": f"Bench Person {i}"},
        "model": {"name": "bench-model"},
        "pii": [{"value": f"bench{i}@example.org", "type": "email"}],
        "documents": [{"text": text, "spans": [{"start": start, "end": start + len(phone), "type": "phone",
                                               "value": phone}]}],
        "jurisdiction": "gdpr",
        "external_ref": f"bench-{i}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intake", type=int, default=400, help="POST /v1/tickets requests")
    parser.add_argument("--polls", type=int, default=1000, help="GET /v1/tickets/{id} requests")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per phase, at most")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()

    import psycopg
    import redis

    db = f"rtbf_bench_{os.getpid()}"
    env = {
        **os.environ,
        "RTBF_ENV": "test",
        "RTBF_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}",
        "RTBF_BROKER_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "RTBF_LOG_LEVEL": "WARNING",
    }
    os.environ.update({k: v for k, v in env.items() if k.startswith("RTBF_")})
    sys.path.insert(0, str(REPO))
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db}"')
    servers: list[subprocess.Popen] = []
    try:
        from service.db import engine_for, session_scope
        from service.keys.service import create_key
        from service.migrate import upgrade
        from service.registry.schemas import ModelCreate
        from service.registry.service import register_model

        upgrade(env["RTBF_DATABASE_URL"])
        with session_scope() as s:
            key = create_key(s, "bench", ["admin"])
        with session_scope() as s:
            from service.keys.service import authenticate

            register_model(s, authenticate(s, key.secret), ModelCreate(name="bench-model", source="/models/bench"))
        engine_for(env["RTBF_DATABASE_URL"]).dispose()
        headers = {"Authorization": f"Bearer {key.secret}"}

        gw_port, bare_port = free_port(), free_port()
        servers.append(serve("service.app:create_app", gw_port, env, REPO))
        servers.append(serve("bench_api:bare_app", bare_port, env, Path(__file__).resolve().parent))
        gw, bare = f"http://127.0.0.1:{gw_port}", f"http://127.0.0.1:{bare_port}"
        wait_until_up(f"{gw}/healthz")
        wait_until_up(f"{bare}/bare/x")

        n, c, limit = args.intake, args.concurrency, args.time_limit
        # warm-up: connection pools, imports, prepared plans
        drive("warmup", gw, 40, c, lambda cl, i: cl.post("/v1/tickets", json=ticket_body(10**6 + i), headers=headers), limit)
        drive("warmup", bare, 40, c, lambda cl, i: cl.post("/bare", json=ticket_body(i)), limit)

        ids: list[str] = []
        ids_lock = threading.Lock()

        def intake(client, i):
            r = client.post("/v1/tickets", json=ticket_body(i), headers=headers)
            if r.status_code == 202:
                with ids_lock:
                    ids.append(r.json()["id"])
            return r

        results = [
            drive("gateway POST /v1/tickets", gw, n, c, intake, limit),
            drive("bare    POST /bare", bare, n, c, lambda cl, i: cl.post("/bare", json=ticket_body(i)), limit),
        ]
        if not ids:
            # Polling needs tickets to poll; with none, ids[i % len(ids)] would fail in every client thread.
            raise SystemExit(f"error: POST /v1/tickets accepted no ticket ({results[0].count} sent, "
                             f"{results[0].errors} failed), so there is nothing to poll; check --intake and the "
                             "gateway's health")
        results += [
            drive("gateway GET /v1/tickets/{id}", gw, args.polls, c,
                  lambda cl, i: cl.get(f"/v1/tickets/{ids[i % len(ids)]}", headers=headers), limit),
            drive("bare    GET /bare/{id}", bare, args.polls, c,
                  lambda cl, i: cl.get(f"/bare/{ids[i % len(ids)]}"), limit),
        ]
        print(f"\nrtbf gateway benchmark: uvicorn 1 process each, {c} client threads, 127.0.0.1, "
              f"PostgreSQL + Redis local, {os.cpu_count()} CPUs")
        print(f"{'endpoint':<28} {'reqs':>6} {'errs':>5} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9}")
        for r in results:
            print(r.row())
        intake_ratio = results[0].rps / results[1].rps if results[1].rps else float("nan")
        poll_ratio = results[2].rps / results[3].rps if results[3].rps else float("nan")
        print(f"throughput ratio gateway/bare: intake {intake_ratio:.2f}, polling {poll_ratio:.2f}")
        print(f"p99 ratio gateway/bare:        intake {results[0].pct(99) / results[1].pct(99):.2f}, "
              f"polling {results[2].pct(99) / results[3].pct(99):.2f}")
        if args.json:
            print(json.dumps({r.name: {"requests": r.count, "errors": r.errors, "rps": round(r.rps, 1),
                                       "p50_ms": round(r.pct(50), 2), "p99_ms": round(r.pct(99), 2),
                                       "mean_ms": round(statistics.fmean(r.latencies_ms), 2)} for r in results}))
    finally:
        for proc in servers:
            proc.terminate()
        for proc in servers:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).flushdb()


if __name__ == "__main__":
    main()
