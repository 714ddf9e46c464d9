"""HTTP load on a real quoting server: throughput, latency percentiles and non-2xx responses.

Usage::

    python benchmarks/http_load.py [--duration 60] [--clients 8] [--workers 2]
                                   [--target-relative-error E] [--driver auto|locust|httpx]
                                   [--distinct N]

Starts ``underwriting serve --workers N --port <free port> --database-url sqlite:///<tmp>/uw.db``
(``make run``'s server, on a throwaway store, loopback only), creates an underwriter key in that
store beforehand, waits for ``/readyz``, then keeps ``--clients`` clients posting the example
requests (``examples/*.json``, round robin) to ``POST /v1/quotes`` for ``--duration`` seconds,
each client sending its next request as soon as the last one is answered (closed loop). A worker
keeps the seed-free work of a quote (the rated profile, the exact means' integrals, the plans'
impact records: ``underwriting.engine._memo``) for the next quote of the same submission, impacts
and terms; with ``--distinct N`` the bodies are N variants of each example (their terms' share
1 - k/10,000), so that none is quoted twice within 3N requests and the integrals, which read the
share, are missed, as with a lab quoted on new terms (the rated profile and the impact records,
which do not read the terms, are still found). With ``--target-relative-error E`` each body carries
``"target_relative_error": E``; without it the server quotes at the tables' default precision.

The load comes from locust, headless (``pip install -e '.[bench]'``), or, without locust (or with
``--driver httpx``), from an asyncio/httpx loop of the same shape. Requests still in flight when
the time is up are waited for (at most ``--stop-timeout`` seconds) and counted; any cut off then
are reported as ``unfinished``. Latencies are recorded per request, so the percentiles are exact
(locust's own, which it rounds, are printed beside them).

The CPU seconds each server child process used during the load are printed too (Linux): a
keep-alive connection stays with the worker that accepted it, so with a fixed set of clients the
split between workers is settled at connect time. On Linux each worker listens on a socket of its
own (``api/workers.py``) and the kernel spreads the connections by a hash of their addresses;
before, the workers shared one socket and one often took every connection. The server is stopped
in any case; its log is printed only when something failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as dt
import importlib.util
import itertools
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from api.store import Store

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
HOST = "127.0.0.1"

LOCUSTFILE = '''"""Written by benchmarks/http_load.py: post the example quotes round robin."""

import csv
import itertools
import json
import os
import time

from locust import HttpUser, constant, events, task

CONFIG = json.loads(open(os.environ["UW_LOAD_CONFIG"], encoding="utf-8").read())
HEADERS = {"Authorization": "Bearer " + CONFIG["key"], "Content-Type": "application/json"}
BODIES = CONFIG["bodies"]
NEXT = itertools.count()
SAMPLES = []
STARTED = [0]


@events.request.add_listener
def record(request_type, name, response_time, response_length, response=None,
           exception=None, start_time=None, **kwargs):
    status = getattr(response, "status_code", 0) or 0
    SAMPLES.append((start_time or time.time(), response_time / 1000.0, status, repr(exception)
                    if exception and not status else ""))


@events.quitting.add_listener
def save(environment, **kwargs):
    with open(CONFIG["samples"], "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("start", "seconds", "status", "error"))
        writer.writerows(SAMPLES)
    with open(CONFIG["samples"] + ".started", "w", encoding="utf-8") as handle:
        handle.write(str(STARTED[0]))


class Quoter(HttpUser):
    wait_time = constant(0)

    @task
    def quote(self):
        body = BODIES[next(NEXT) % len(BODIES)]
        STARTED[0] += 1
        with self.client.post("/v1/quotes", data=body, headers=HEADERS, name="POST /v1/quotes",
                              timeout=CONFIG["timeout"], catch_response=True) as response:
            if not 200 <= response.status_code < 300:
                response.failure("HTTP %d" % response.status_code)
'''


@dataclass
class Sample:
    """One request: when it started (epoch seconds), how long it took, its status (0: none)."""

    start: float
    seconds: float
    status: int
    error: str = ""


@dataclass
class LoadResult:
    driver: str
    wall_seconds: float
    samples: list[Sample]
    started: int
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def create_key(database_url: str) -> str:
    store = Store(database_url)
    try:
        store.create_schema()
        key, _ = store.create_key("http-load-benchmark", "underwriter")
    finally:
        store.engine.dispose()
    return key


def start_server(
    database_url: str, port: int, workers: int, log: Path
) -> tuple[subprocess.Popen[bytes], Any]:
    executable = Path(sys.executable).with_name("underwriting")
    command = [
        str(executable) if executable.exists() else "underwriting",
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--database-url",
        database_url,
    ]
    handle = log.open("wb")
    # Every client posts with the one key: the per-principal limits on simulation work (429
    # beyond them) would measure the limits, not the service, so they are lifted here.
    env = {
        **os.environ,
        "UW_MAX_CONCURRENT_SIMULATIONS_PER_PRINCIPAL": "100000",
        "UW_MAX_SIMULATIONS_PER_MINUTE_PER_PRINCIPAL": "100000000",
    }
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, handle


def wait_ready(process: subprocess.Popen[bytes], base: str, timeout: float) -> float:
    """Seconds until ``/readyz`` answered 200; raises if the server died or never got ready."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} before ready")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the server was not ready within {timeout:.0f} s")


def stop_server(process: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """SIGTERM the server (uvicorn stops its workers), then SIGKILL its process group if needed."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    # The group is the server's own (start_new_session): its workers, nothing else.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (Linux), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def server_children(pid: int) -> list[int]:
    """The server's child processes (its workers and a resource tracker); empty without /proc."""
    found = []
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else ():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU seconds a process has used so far (Linux), or None."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- load generators


def run_locust(
    base: str, bodies: list[str], key: str, args: argparse.Namespace, tmp: Path
) -> LoadResult:
    locust = shutil.which("locust", path=str(Path(sys.executable).parent)) or shutil.which("locust")
    if locust is None:
        raise FileNotFoundError("locust")
    locustfile = tmp / "locustfile.py"
    locustfile.write_text(LOCUSTFILE, encoding="utf-8")
    config = tmp / "load.json"
    samples_path = tmp / "samples.csv"
    config.write_text(
        json.dumps(
            {"key": key, "bodies": bodies, "timeout": args.timeout, "samples": str(samples_path)}
        ),
        encoding="utf-8",
    )
    config.chmod(0o600)
    prefix = tmp / "locust"
    command = [
        locust,
        "-f",
        str(locustfile),
        "--headless",
        "-u",
        str(args.clients),
        "-r",
        str(args.clients),
        "-t",
        f"{args.duration}s",
        "--stop-timeout",
        str(args.stop_timeout),
        "--host",
        base,
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    env = {**os.environ, "UW_LOAD_CONFIG": str(config)}
    started = time.perf_counter()
    completed = subprocess.run(
        command,
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=args.duration + args.stop_timeout + 60,
        check=False,
    )
    wall = time.perf_counter() - started
    if not samples_path.exists():
        raise RuntimeError(
            f"locust wrote no samples (exit {completed.returncode}):\n{completed.stderr[-3000:]}"
        )
    samples = []
    with samples_path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            samples.append(
                Sample(float(row["start"]), float(row["seconds"]), int(row["status"]), row["error"])
            )
    started_path = samples_path.with_name(samples_path.name + ".started")
    started_count = int(started_path.read_text()) if started_path.exists() else len(samples)
    extra: dict[str, Any] = {"locust_exit_code": completed.returncode}
    stats = prefix.with_name("locust_stats.csv")
    if stats.exists():
        with stats.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                if row.get("Name") == "Aggregated":
                    extra["locust_aggregated"] = {
                        name: row.get(name)
                        for name in (
                            "Request Count",
                            "Failure Count",
                            "Requests/s",
                            "50%",
                            "99%",
                            "100%",
                        )
                    }
    return LoadResult("locust " + metadata.version("locust"), wall, samples, started_count, extra)


async def _closed_loop(
    base: str, bodies: list[str], key: str, args: argparse.Namespace
) -> tuple[float, list[Sample], int]:
    import httpx

    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    counter = itertools.count()
    samples: list[Sample] = []
    started = [0]
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=args.timeout) as client:
        loop = asyncio.get_running_loop()
        began = loop.time()
        deadline = began + args.duration

        async def one_client() -> None:
            while loop.time() < deadline:
                body = bodies[next(counter) % len(bodies)]
                started[0] += 1
                start, clock = time.time(), time.perf_counter()
                try:
                    response = await client.post("/v1/quotes", content=body, headers=headers)
                    status, error = response.status_code, ""
                except httpx.HTTPError as exc:
                    status, error = 0, repr(exc)
                samples.append(Sample(start, time.perf_counter() - clock, status, error))

        tasks = [asyncio.create_task(one_client()) for _ in range(args.clients)]
        _, pending = await asyncio.wait(tasks, timeout=args.duration + args.stop_timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return loop.time() - began, samples, started[0]


def run_httpx(base: str, bodies: list[str], key: str, args: argparse.Namespace) -> LoadResult:
    wall, samples, started = asyncio.run(_closed_loop(base, bodies, key, args))
    return LoadResult("asyncio/httpx " + metadata.version("httpx"), wall, samples, started)


# --------------------------------------------------------------------------- report


def percentile(ordered: list[float], level: float) -> float:
    """The lower empirical quantile (the value at rank ceil(n * level))."""
    if not ordered:
        return math.nan
    return ordered[min(max(math.ceil(len(ordered) * level) - 1, 0), len(ordered) - 1)]


def summarise(result: LoadResult, duration: float) -> dict[str, Any]:
    latencies = sorted(sample.seconds for sample in result.samples)
    statuses = Counter(sample.status for sample in result.samples)
    non_2xx = sum(count for status, count in statuses.items() if not 200 <= status < 300)
    first = min((s.start for s in result.samples), default=0.0)
    last = max((s.start + s.seconds for s in result.samples), default=0.0)
    span = last - first if result.samples else 0.0
    return {
        "driver": result.driver,
        "requests": len(latencies),
        "started": result.started,
        "unfinished": result.started - len(latencies),
        "ok_2xx": len(latencies) - non_2xx,
        "non_2xx": non_2xx,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "throughput_rps": len(latencies) / span if span > 0 else 0.0,
        "throughput_per_duration_rps": len(latencies) / duration,
        "span_s": span,
        "p50_s": percentile(latencies, 0.50),
        "p90_s": percentile(latencies, 0.90),
        "p99_s": percentile(latencies, 0.99),
        "max_s": latencies[-1] if latencies else math.nan,
        "mean_s": sum(latencies) / len(latencies) if latencies else math.nan,
        "errors": sorted({s.error for s in result.samples if s.error})[:5],
        **result.extra,
    }


def machine() -> str:
    model = platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs, {model}, python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument(
        "--target-relative-error",
        type=float,
        default=None,
        help="sent in every body (default: the tables' precision, as make run serves)",
    )
    parser.add_argument("--driver", choices=("auto", "locust", "httpx"), default="auto")
    parser.add_argument("--timeout", type=float, default=120.0, help="per-request timeout, s")
    parser.add_argument(
        "--stop-timeout", type=int, default=60, help="wait for in-flight requests, s"
    )
    parser.add_argument("--ready-timeout", type=float, default=120.0)
    parser.add_argument("--warmup", type=int, default=2, help="untimed requests first")
    parser.add_argument(
        "--distinct",
        type=int,
        default=1,
        help="variants of each example (their terms' share 1 - k/10,000, k = 0 .. N-1), so that "
        "a worker meets a body it has seen, and its memo of integrals, only after 3N requests",
    )
    args = parser.parse_args()
    if not 1 <= args.distinct <= 5_000:
        raise SystemExit(f"--distinct must be 1 to 5,000, got {args.distinct}")

    bodies = []
    for variant in range(args.distinct):  # the examples round robin, then their variants
        for path in sorted(EXAMPLES.glob("*.json")):
            body = json.loads(path.read_text(encoding="utf-8"))
            if args.target_relative_error is not None:
                body["target_relative_error"] = args.target_relative_error
            if variant:
                body["terms"]["share"] = body["terms"].get("share", 1.0) - variant / 10_000
            bodies.append(json.dumps(body))
    if not bodies:
        raise SystemExit(f"no example requests in {EXAMPLES}")
    driver = args.driver
    if driver == "auto":
        driver = "locust" if importlib.util.find_spec("locust") else "httpx"

    precision = (
        "default precision (tables')"
        if args.target_relative_error is None
        else f"target_relative_error {args.target_relative_error:g}"
    )
    print(
        f"machine: {machine()}; {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}\n"
        f"server: underwriting serve --workers {args.workers} (sqlite, throwaway store); "
        f"{args.clients} clients x {args.duration} s, {len(bodies)} example bodies round robin "
        f"({args.distinct} variant(s) of each), "
        f"{precision}; driver {driver}"
    )
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="uw-http-load-") as name:
        tmp = Path(name)
        database_url = f"sqlite:///{tmp / 'uw.db'}"
        key = create_key(database_url)
        port = free_port()
        base = f"http://{HOST}:{port}"
        log = tmp / "server.log"
        process, handle = start_server(database_url, port, args.workers, log)
        failed = True
        try:
            ready = wait_ready(process, base, args.ready_timeout)
            print(f"server ready in {ready:.1f} s on {base}")
            for number in range(args.warmup):
                request = urllib.request.Request(
                    f"{base}/v1/quotes",
                    data=bodies[number % len(bodies)].encode(),
                    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                    method="POST",
                )
                started = time.perf_counter()
                with urllib.request.urlopen(request, timeout=args.timeout) as response:
                    print(
                        f"warm-up request {number + 1}: HTTP {response.status} in "
                        f"{time.perf_counter() - started:.2f} s"
                    )
            children = server_children(process.pid)
            cpu_before = {pid: cpu_seconds(pid) for pid in children}
            if driver == "locust":
                result = run_locust(base, bodies, key, args, tmp)
            else:
                result = run_httpx(base, bodies, key, args)
            worker_cpu = {}
            for pid, before in cpu_before.items():
                after = cpu_seconds(pid)
                if before is not None and after is not None:
                    worker_cpu[str(pid)] = round(after - before, 1)
            failed = process.poll() is not None
        finally:
            stop_server(process)
            handle.close()
            if failed and log.exists():
                print("server log (tail):\n" + log.read_text(errors="replace")[-4000:])

    summary = summarise(result, args.duration)
    summary.update(
        server_child_cpu_s=worker_cpu,
        load_average_before=[round(x, 2) for x in load_before],
        load_average_after=[round(x, 2) for x in os.getloadavg()],
        precision=precision,
        clients=args.clients,
        workers=args.workers,
        duration_s=args.duration,
        wall_s=result.wall_seconds,
    )
    print()
    print(
        f"{'precision':<34}{'requests':>9}{'req/s':>8}{'p50 s':>8}{'p90 s':>8}{'p99 s':>8}"
        f"{'max s':>8}{'non-2xx':>9}{'unfinished':>12}"
    )
    print(
        f"{precision:<34}{summary['requests']:>9}{summary['throughput_rps']:>8.2f}"
        f"{summary['p50_s']:>8.3f}{summary['p90_s']:>8.3f}{summary['p99_s']:>8.3f}"
        f"{summary['max_s']:>8.3f}{summary['non_2xx']:>9}{summary['unfinished']:>12}"
    )
    print(
        f"load average (1, 5, 15 min) before {summary['load_average_before']}, "
        f"after {summary['load_average_after']} (other processes share these CPUs)"
    )
    print(f"statuses: {summary['statuses']}")
    if worker_cpu:
        print(
            f"CPU seconds of the server's child processes during the load: {worker_cpu} (each "
            "keep-alive connection stays with the worker that accepted it, so a lopsided split "
            "means the clients' connections landed unevenly)"
        )
    if "locust_aggregated" in summary:
        print(
            "locust's own figures (ms, rounded by locust; its CSV is written when the run time "
            f"ends, before the requests still in flight finish): {summary['locust_aggregated']}"
        )
    if summary["errors"]:
        print(f"errors: {summary['errors']}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
