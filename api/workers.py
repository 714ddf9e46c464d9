"""Several worker processes, each listening on a socket of its own (``SO_REUSEPORT``, Linux).

uvicorn's ``--workers N`` binds one socket in the parent and lets every worker accept on it. A
worker woken by a burst of connections accepts all it can at once, and a keep-alive connection
stays with the worker that accepted it, so a few clients that connect together can all land on
one worker while the other idles: in the HTTP benchmark (8 clients, 2 workers) one worker took
every connection in five of eight runs, and the service then answered on one core
(docs/performance.md). Here each worker binds its own socket to the same address with
``SO_REUSEPORT``, and the kernel spreads incoming connections among the sockets by a hash of
each connection's addresses.

The parent starts the workers, starts a new one for any that dies, and on SIGINT or SIGTERM
asks each to finish its requests (SIGTERM: uvicorn's graceful shutdown) and waits for them.
Where ``SO_REUSEPORT`` does not spread connections (not Linux) or the port is chosen by the
system (port 0: each socket would get a port of its own), ``underwriting serve`` uses uvicorn's
own workers instead.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import sys
import threading
from types import FrameType

APP = "api.main:create_app"
RESTART_PAUSE_S = 1.0
"""The least time between two starts of a worker that keeps dying (a broken configuration)."""
STOP_GRACE_S = 30.0
"""How long a worker has to finish its requests after SIGTERM before it is killed."""


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


def _worker(host: str, port: int) -> None:  # pragma: no cover - runs in a child process
    import uvicorn

    sock = bound_socket(host, port)
    uvicorn.Server(uvicorn.Config(APP, factory=True, log_level="info")).run(sockets=[sock])


def serve_workers(host: str, port: int, workers: int) -> None:
    """Run ``workers`` processes serving the API on ``host:port`` until SIGINT or SIGTERM."""
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(target=_worker, args=(host, port), name="uw-worker")
        process.start()
        return process

    def ask_to_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Bound here first (never listening), so that a port taken by another program fails at
    # once, and held, so that no other program takes it between workers.
    try:
        held = bound_socket(host, port)
    except OSError as error:
        raise SystemExit(f"cannot serve on {host}:{port}: {error.strerror}") from error
    previous = {s: signal.signal(s, ask_to_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    processes = [start() for _ in range(workers)]
    try:
        while not stop.wait(RESTART_PAUSE_S):
            for number, process in enumerate(processes):
                if not process.is_alive():
                    print(
                        f"worker {process.pid} exited ({process.exitcode}); starting another",
                        file=sys.stderr,
                        flush=True,
                    )
                    processes[number] = start()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for process in processes:
            process.join(STOP_GRACE_S)
            if process.is_alive():
                process.kill()
                process.join()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        held.close()
