"""Benchmark P3: GitHub webhook ingest, the Nexus receiver against the straightforward one, under gunicorn.

    .venv/bin/python benchmarks/webhook_ingest.py [--quick] [--duration S] [--rounds N] [--concurrency N]
        [--workers N] [--threads N] [--client wrk|python] [--receivers baseline,nexus]
        [--database-url URL] [--redis-url URL]

One run, one PostgreSQL database (created fresh, migrated), one Redis DB (flushed), one gunicorn started
as in production (config.settings.prod; gthread, --threads 4 as docker-compose.yml, 4 workers as
WEB_CONCURRENCY; no access log). Signed 8 KB `check_run` deliveries, each with its own X-GitHub-Delivery,
are POSTed from the same machine by wrk (Debian's, `apt-get install wrk`; the default when installed) or a
Python load generator (--client python), --concurrency connections, against each receiver:

  nexus     POST /webhooks/github/           one INSERT ... ON CONFLICT DO NOTHING in autocommit, then a
                                             Redis SET NX: a drain task is published once per burst, not
                                             once per delivery; the rows themselves are the queue.
  baseline  POST /webhooks/github/baseline/  Delivery.objects.create() in a transaction, then
                                             process_delivery.delay_on_commit(id): one publish per delivery.

--duration seconds per receiver, split into --rounds alternating rounds (A B, B A, ...), so that a busy
moment of a shared machine falls on both. No worker runs, so what is queued stays put and is counted: for
the baseline, the process_delivery messages of the run's rows; for the receiver, its rows waiting in state
"received" with a drain message queued (the first thing a worker takes). `stored` counts the run's rows
(delivery ids are unique in the table); `lost` counts 2xx answers without a row; `stored_not_acked` are
requests in flight when a round's time ran out (stored and answered, but after wrk stopped counting).
p50/p99 merge the rounds (wrk: its quantiles on a 0.5-point grid). Progress goes to stdout; the last line
is one JSON object. Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from webhooks.signature import sign

BIN = Path(sys.executable).parent
SECRET = "benchmark-only-webhook-secret"  # noqa: S105 - a throwaway database and server
PAYLOAD = ROOT / "tests" / "webhooks" / "payloads" / "check_run" / "completed.payload.json"
BODY_SIZE = 8 * 1024
PATHS = {"nexus": "/webhooks/github/", "baseline": "/webhooks/github/baseline/"}


def log(message: str) -> None:
    print(f"[webhook_ingest {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- setup -----------------------------------------------------------------------------------------------


def configure(database_url: str, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.prod",
        DJANGO_SECRET_KEY="benchmark-only-" + "x" * 40,
        DJANGO_ALLOWED_HOSTS="localhost,127.0.0.1",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        GITHUB_WEBHOOK_SECRETS=SECRET,
        NEXUS_WEBHOOK_BASELINE="true",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),
    )
    return env


def create_database(database_url: str) -> None:
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not name.startswith("nexus_bench"):
        raise SystemExit(f"refusing to recreate database {name!r}: its name must start with nexus_bench")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def bodies(count: int) -> list[tuple[bytes, str]]:
    """`count` distinct check_run payloads of exactly BODY_SIZE bytes (compact JSON), with their signatures."""
    base = json.loads(PAYLOAD.read_bytes())
    # GitHub's example is 11 KB compact; its repository's API link templates go, the rest stays as sent.
    base["repository"] = {
        k: v for k, v in base["repository"].items() if not k.endswith("_url") or k == "html_url"
    }
    out = []
    for i in range(count):
        base["check_run"]["head_sha"] = f"{i:040x}"
        base["check_run"]["output"] = {"title": "autograding", "summary": "", "text": ""}
        raw = json.dumps(base, separators=(",", ":"))
        base["check_run"]["output"]["text"] = "x" * (BODY_SIZE - len(raw.encode()))
        body = json.dumps(base, separators=(",", ":")).encode()
        assert len(body) == BODY_SIZE, len(body)
        out.append((body, sign(SECRET, body)))
    return out


class Server:
    """gunicorn as in production (docker-compose.yml's web command), its output in a log file."""

    def __init__(self, env: dict[str, str], port: int, workers: int, threads: int, log_dir: Path) -> None:
        self.log_path = log_dir / "gunicorn.log"
        self._log = self.log_path.open("wb")
        argv = [str(BIN / "gunicorn"), "config.wsgi:application", "--bind", f"127.0.0.1:{port}"]
        argv += ["--workers", str(workers), "--threads", str(threads)]
        self.popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.port = port

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                break
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"gunicorn never got ready; its log:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self._log.close()


# --- load --------------------------------------------------------------------------------------------------


def _client(args: tuple) -> dict:
    """One load process: `threads` connections, each POSTing until `until` (time.time())."""
    port, path, prefix, threads, start, until, signed = args
    results: list[dict] = []

    def run(n: int) -> None:
        conn: http.client.HTTPConnection | None = None
        latencies: list[float] = []
        acked: list[str] = []
        statuses: dict[int, int] = {}
        i = 0
        while time.time() < start:
            time.sleep(0.001)
        while time.time() < until:
            body, signature = signed[(n + i) % len(signed)]
            delivery = f"{prefix}-{n}-{i}"
            i += 1
            headers = {
                "Content-Type": "application/json",
                "X-GitHub-Event": "check_run",
                "X-GitHub-Delivery": delivery,
                "X-Hub-Signature-256": signature,
                "User-Agent": "GitHub-Hookshot/bench",
            }
            began = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                status = 0
                if conn is not None:
                    conn.close()
                conn = None
            latencies.append(time.perf_counter() - began)
            statuses[status] = statuses.get(status, 0) + 1
            if 200 <= status < 300:
                acked.append(delivery)
        results.append({"latencies": latencies, "acked": acked, "statuses": statuses})

    pool = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    merged: dict = {"latencies": [], "acked": [], "statuses": {}}
    for r in results:
        merged["latencies"] += r["latencies"]
        merged["acked"] += r["acked"]
        for k, v in r["statuses"].items():
            merged["statuses"][k] = merged["statuses"].get(k, 0) + v
    return merged


def load(port: int, path: str, prefix: str, concurrency: int, duration: float, signed, procs: int) -> dict:
    per = [concurrency // procs + (1 if i < concurrency % procs else 0) for i in range(procs)]
    start = time.time() + 1.0  # every process connected and waiting before the clock starts
    until = start + duration
    with mp.get_context("fork").Pool(procs) as pool:
        parts = pool.map(
            _client,
            [(port, path, f"{prefix}{i}", n, start, until, signed) for i, n in enumerate(per) if n],
        )
    elapsed = time.time() - start
    latencies = [x for p in parts for x in p["latencies"]]
    statuses: dict[int, int] = {}
    for p in parts:
        for k, v in p["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    hist: dict[int, int] = {}
    for x in latencies:
        hist[round(x * 1e6)] = hist.get(round(x * 1e6), 0) + 1
    return {
        "acked": [a for p in parts for a in p["acked"]],
        "hist": hist,
        "statuses": statuses,
        "elapsed": elapsed,
    }


WRK_SCRIPT = """
-- Written by benchmarks/webhook_ingest.py: one signed body, a delivery id per request, 2xx counted per thread.
local body = [==[%(body)s]==]
local signature = "%(signature)s"
local path = "%(path)s"
local prefix = "%(prefix)s"
local threads = {}
GRID = {}
for q = 0.5, 98, 0.5 do GRID[#GRID + 1] = q end
for _, q in ipairs({98.5, 99, 99.25, 99.5, 99.75, 99.9, 100}) do GRID[#GRID + 1] = q end
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  counter = 0
  acked = 0
  statuses = {}
  mine = prefix .. tid .. "-"
end
function request()
  counter = counter + 1
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = "check_run",
    ["X-GitHub-Delivery"] = mine .. counter,
    ["X-Hub-Signature-256"] = signature,
  }, body)
end
function response(status, headers, body)
  if status >= 200 and status < 300 then acked = acked + 1 end
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local acked_total = 0
  local parts = {}
  for _, t in ipairs(threads) do
    acked_total = acked_total + t:get("acked")
    for code, count in pairs(t:get("statuses")) do
      parts[#parts + 1] = string.format('"%%d": %%d', code, count)
    end
  end
  io.write(string.format(
    'WRK {"requests": %%d, "duration_us": %%d, "acked": %%d, "p50_us": %%d, "p99_us": %%d, "max_us": %%d, '
    .. '"connect_errors": %%d, "read_errors": %%d, "write_errors": %%d, "timeouts": %%d, "statuses": [{%%s}]}\\n',
    summary.requests, summary.duration, acked_total, latency:percentile(50), latency:percentile(99),
    latency.max, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    table.concat(parts, "}, {")))
  -- Latency quantiles on a fine grid, so rounds can be merged (wrk keeps no histogram a script can read).
  local points = {}
  for _, q in ipairs(GRID) do points[#points + 1] = q .. ":" .. latency:percentile(q) end
  io.write("QUANTILES " .. table.concat(points, ",") .. "\\n")
end
"""


def load_wrk(
    port: int, path: str, prefix: str, concurrency: int, duration: float, signed, threads: int
) -> dict:
    """The same load from wrk (Debian's), which costs the shared CPUs far less than a Python client."""
    body, signature = signed[0]
    script = Path(tempfile.mkdtemp(prefix="webhook_ingest-wrk-")) / "post.lua"
    script.write_text(
        WRK_SCRIPT % {"body": body.decode(), "signature": signature, "path": path, "prefix": prefix}
    )
    argv = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--timeout", "10s"]
    argv += ["-s", str(script), f"http://127.0.0.1:{port}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("WRK "))
    data = json.loads(line[4:])
    statuses: dict[int, int] = {}
    for part in data["statuses"]:
        for code, count in part.items():
            statuses[int(code)] = statuses.get(int(code), 0) + count
    errors = sum(data[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    if errors:
        statuses[0] = errors
    # Each quantile point stands for the requests between it and the previous point: a histogram close
    # enough to merge rounds into p50 and p99.
    hist: dict[int, float] = {}
    raw = next((line[10:] for line in out.splitlines() if line.startswith("QUANTILES ")), "")
    previous = 0.0
    for pair in filter(None, raw.split(",")):
        q, value = (float(x) for x in pair.split(":"))
        hist[round(value)] = hist.get(round(value), 0) + data["requests"] * (q - previous) / 100
        previous = q
    return {"acked": data["acked"], "hist": hist, "statuses": statuses, "elapsed": data["duration_us"] / 1e6}


def pct(hist: dict[int, float], q: float) -> float | None:
    """The q-quantile (seconds) of a latency histogram in microseconds."""
    total = sum(hist.values())
    if not total:
        return None
    rank, seen = q * total, 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return value / 1e6
    return max(hist) / 1e6


def check(database_url: str, redis_url: str, prefix: str, acked: list[str] | int) -> dict:
    """What the database and the broker hold for this run's deliveries."""
    import psycopg
    import redis

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT delivery_id, state, id FROM webhooks_delivery WHERE delivery_id LIKE %s", [prefix + "%"]
        ).fetchall()
    stored_ids = {r[0] for r in rows}
    waiting = sum(1 for r in rows if r[1] == "received")
    client = redis.Redis.from_url(redis_url)
    pks = {r[2] for r in rows}
    messages = []
    for raw in client.lrange("github", 0, -1):
        message = json.loads(raw)
        task = message["headers"]["task"]
        if task == "nexus.github.process_delivery":
            args = json.loads(base64.b64decode(message["body"]))[0]
            if args[0] not in pks:
                continue  # the warm-up's
        messages.append(task)
    if isinstance(acked, int):
        # wrk counts answers, not ids: every id is unique and has the run's prefix, so the counts compare.
        lost, extra = max(0, acked - len(rows)), max(0, len(rows) - acked)
    else:
        lost, extra = len(set(acked) - stored_ids), len(stored_ids - set(acked))
    return {
        "stored": len(rows),
        "lost": lost,
        "stored_not_acked": extra,
        "waiting_rows": waiting,
        "process_messages": messages.count("nexus.github.process_delivery"),
        "drain_messages": messages.count("nexus.github.drain_deliveries"),
    }


def measure(args, signed, receivers: list[str]) -> dict[str, dict]:
    """The receivers in alternating rounds (A B, B A, ...), so a busy moment of a shared machine falls on both."""
    import redis

    run = load_wrk if args.client == "wrk" else load
    run_id = uuid.uuid4().hex[:8]
    prefixes = {r: f"{r}-{run_id}-" for r in receivers}
    for receiver in receivers:
        log(f"{receiver}: warming up ({PATHS[receiver]})")
        run(
            args.port,
            PATHS[receiver],
            f"warm-{prefixes[receiver]}",
            args.concurrency,
            args.warmup,
            signed,
            args.procs,
        )
    time.sleep(1.0)  # the warm-up's last answers
    redis.Redis.from_url(args.redis_url).delete("github")  # what the warm-up queued
    segment = args.duration / args.rounds
    log(
        f"{args.rounds} round(s) of {segment:g} s per receiver at concurrency {args.concurrency} ({args.client})"
    )
    totals = {r: {"acked": [], "hist": {}, "statuses": {}, "elapsed": 0.0} for r in receivers}
    for i in range(args.rounds):
        for receiver in receivers if i % 2 == 0 else receivers[::-1]:
            result = run(
                args.port,
                PATHS[receiver],
                f"{prefixes[receiver]}{i}-",
                args.concurrency,
                segment,
                signed,
                args.procs,
            )
            total = totals[receiver]
            if isinstance(result["acked"], int):
                total["acked"] = (total["acked"] or 0) + result["acked"]
            else:
                total["acked"] += result["acked"]
            for key in ("hist", "statuses"):
                for k, v in result[key].items():
                    total[key][k] = total[key].get(k, 0) + v
            total["elapsed"] += result["elapsed"]
            count = result["acked"] if isinstance(result["acked"], int) else len(result["acked"])
            log(f"  round {i + 1} {receiver}: {count / result['elapsed']:.0f}/s")
    figures = {}
    for receiver in receivers:
        total = totals[receiver]
        counts = check(args.database_url, args.redis_url, prefixes[receiver], total["acked"])
        count = total["acked"] if isinstance(total["acked"], int) else len(total["acked"])
        p50, p99 = pct(total["hist"], 0.50), pct(total["hist"], 0.99)
        result = {
            "deliveries": count,
            "per_s": round(count / total["elapsed"], 1) if total["elapsed"] else None,
            "p50_ms": round(p50 * 1000, 2) if p50 is not None else None,
            "p99_ms": round(p99 * 1000, 2) if p99 is not None else None,
            "max_ms": round(max(total["hist"]) / 1000, 1) if total["hist"] else None,
            "statuses": {str(k): v for k, v in sorted(total["statuses"].items())},
            **counts,
        }
        if receiver == "baseline":
            result["queued"] = counts["process_messages"]
            del result["drain_messages"]  # the receiver's, in the same queue
        else:
            # The rows are the queue; the drain message is what makes a worker take them.
            result["queued"] = counts["waiting_rows"] if counts["drain_messages"] else 0
        log(f"{receiver}: {json.dumps(result)}")
        figures[receiver] = result
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 s per receiver; the run takes under 60 s")
    parser.add_argument("--duration", type=float, help="seconds of load per receiver (full: 30, quick: 10)")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument(
        "--rounds",
        type=int,
        help="alternating rounds the duration is split into (full: 6, quick: 5; whole seconds each with wrk)",
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--client",
        choices=("wrk", "python"),
        default="wrk" if shutil.which("wrk") else "python",
        help="load generator: wrk (apt-get install wrk; the default when installed) or the Python one",
    )
    parser.add_argument("--procs", type=int, default=2, help="load generator processes (wrk: threads)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (compose: WEB_CONCURRENCY)")
    parser.add_argument(
        "--threads", type=int, default=4, help="gunicorn threads per worker (compose: 4, gthread; 1: sync)"
    )
    parser.add_argument("--port", type=int, default=18391)
    parser.add_argument("--receivers", default="baseline,nexus")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nexus_bench_receiver"
        ),
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
    args = parser.parse_args()
    if args.duration is None:
        args.duration = 10.0 if args.quick else 30.0
    if args.rounds is None:
        args.rounds = 5 if args.quick else 6
    began = time.time()
    env = configure(args.database_url, args.redis_url)
    log(
        f"database {urlsplit(args.database_url).path[1:]}, redis {args.redis_url}; gunicorn {args.workers} "
        f"worker(s) x {args.threads} thread(s); {args.concurrency} connections from {args.client} x {args.procs}"
    )
    create_database(args.database_url)
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    log("database created and migrated")
    signed = bodies(32)
    log_dir = Path(tempfile.mkdtemp(prefix="webhook_ingest-"))
    server = Server(env, args.port, args.workers, args.threads, log_dir)
    results = {}
    try:
        server.wait_ready()
        log(f"gunicorn ready (log in {log_dir})")
        results = measure(args, signed, [r.strip() for r in args.receivers.split(",") if r.strip()])
    finally:
        server.stop()
    nexus, baseline = results.get("nexus", {}), results.get("baseline", {})
    out = {
        "benchmark": "P3 webhook_ingest",
        "quick": args.quick,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "gunicorn": f"{args.workers}x{args.threads}",
        "client": args.client,
        "body_bytes": BODY_SIZE,
        **{f"baseline_{k}": v for k, v in baseline.items() if k not in ("per_s",)},
        **nexus,
        "baseline_per_s": baseline.get("per_s"),
        "vs_baseline": round(nexus["per_s"] / baseline["per_s"], 2)
        if nexus.get("per_s") and baseline.get("per_s")
        else None,
        "seconds": round(time.time() - began, 1),
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
