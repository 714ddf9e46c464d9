"""Several worker processes, each listening on a socket of its own (``SO_REUSEPORT``, Linux).

uvicorn's ``--workers N`` binds one socket in the parent and lets every worker accept on it. A
worker woken by a burst of connections accepts all it can at once, and a keep-alive connection
stays with the worker that accepted it, so a few clients that connect together can all land on
one worker while the other idles: in the HTTP benchmark (8 clients, 2 workers) one worker took
every connection in five of eight runs, and the service then answered on one core
(docs/performance.md). Here each worker binds its own socket to the same address with
``SO_REUSEPORT``, and the kernel spreads incoming connections among the sockets by a hash of
each connection's addresses.

The parent starts the workers and starts a new one for any that dies; a worker that fails to
start (an error exit within ``STARTUP_S``) stops the server with its exit code. On SIGINT,
SIGTERM or SIGHUP the parent asks each worker to finish its requests (SIGTERM: uvicorn's
graceful shutdown) and waits for them; a worker whose parent dies, however, gets SIGTERM from
the kernel (``PR_SET_PDEATHSIG``), so none is left serving the port.
Where ``SO_REUSEPORT`` does not spread connections (not Linux) or the port is chosen by the
system (port 0: each socket would get a port of its own), ``underwriting serve`` uses uvicorn's
own workers instead.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import socket
import sys
import time
from types import FrameType

APP = "api.main:create_app"
RESTART_PAUSE_S = 1.0
"""How often the parent looks at its workers (and the least time between two starts)."""
STARTUP_S = 60.0
"""A worker that exits with an error sooner than this after its start failed to start (a bad
setting, a store it cannot reach): the server stops with its exit code instead of restarting
it forever, as a single uvicorn process would."""
STOP_GRACE_S = 30.0
"""How long the workers have to finish their requests after SIGTERM before they are killed."""
_PR_SET_PDEATHSIG = 1
"""``prctl`` option: the signal a process gets when its parent dies (linux/prctl.h)."""


def spreads_connections(port: int) -> bool:
    """Whether workers on sockets of their own can share ``port``'s connections here."""
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT") and port != 0


def bound_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` that other processes may bind too. It listens only
    when uvicorn starts serving on it, after the application's start-up (the kernel warmed):
    until then the kernel sends new connections to the workers already serving."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker(host: str, port: int, parent: int) -> None:  # pragma: no cover - a child process
    import uvicorn

    # Stop with the parent, however it ends (SIGKILL included): an orphaned worker would keep
    # serving the port beside a new server's.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        return
    sock = bound_socket(host, port)
    server = uvicorn.Server(uvicorn.Config(APP, factory=True, log_level="info"))
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(3)  # uvicorn's own code for a failed start-up


def _port_answers(host: str, port: int) -> bool:
    """Whether something already accepts connections on ``host:port`` (another server, or
    an earlier one's workers: ``SO_REUSEPORT`` would let this one bind beside them)."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def serve_workers(host: str, port: int, workers: int) -> None:
    """Run ``workers`` processes serving the API on ``host:port`` until SIGINT, SIGTERM or
    SIGHUP; exit with a worker's code if it fails to start."""
    if _port_answers(host, port):
        raise SystemExit(f"cannot serve on {host}:{port}: something already answers there")
    # Bound here first (never listening), so that a port taken by another program fails at
    # once, and held, so that no other program takes it between workers.
    try:
        held = bound_socket(host, port)
    except OSError as error:
        raise SystemExit(f"cannot serve on {host}:{port}: {error.strerror}") from error
    context = multiprocessing.get_context("spawn")
    stopping: list[int] = []  # the signal that asked to stop (a list: set in a handler)
    failed: int | None = None

    def start() -> tuple[multiprocessing.process.BaseProcess, float]:
        process = context.Process(target=_worker, args=(host, port, os.getpid()), name="uw-worker")
        process.start()
        return process, time.monotonic()

    def ask_to_stop(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, ask_to_stop) for s in signals}
    processes = [start() for _ in range(workers)]
    try:
        while not stopping and failed is None:
            time.sleep(RESTART_PAUSE_S)
            for number, (process, started) in enumerate(processes):
                if process.is_alive() or stopping:
                    continue
                code = process.exitcode or 0
                if code > 0 and time.monotonic() - started < STARTUP_S:
                    print(f"worker {process.pid} failed to start ({code})", file=sys.stderr)
                    failed = code
                    break
                print(
                    f"worker {process.pid} exited ({code}); starting another",
                    file=sys.stderr,
                    flush=True,
                )
                processes[number] = start()
    finally:
        for process, _ in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        deadline = time.monotonic() + STOP_GRACE_S
        for process, _ in processes:
            process.join(max(deadline - time.monotonic(), 0.0))
            if process.is_alive():
                process.kill()
                process.join()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        held.close()
    if failed is not None:
        raise SystemExit(failed)
