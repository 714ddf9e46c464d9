"""The service as an operator runs it: a real uvicorn process on a free port, and the key CLI.

The key CLI runs in-process through Typer's ``CliRunner`` (a start of the command imports the
whole engine, seconds each); the server is a real process reached over the network.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from servers import create_key, free_port
from typer.testing import CliRunner, Result

import underwriting as uw
from api.main import create_app
from api.settings import Settings
from api.store import QuoteRecord, Store, hash_key
from api.workers import spreads_connections

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
READY_WITHIN_S = 30.0


def example(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    body["target_relative_error"] = 0.05
    return body


def wait_until_ready(client: httpx.Client, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if client.get("/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the server was not ready within {READY_WITHIN_S} s:\n{log.read_text()}")


def terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the server and wait for it; SIGKILL if it has not stopped within ``timeout``."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:  # pragma: no cover - only if it hangs
        process.kill()
        process.wait()


def test_real_server_quotes_over_the_network(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/uw.db"
    key = create_key(url, "net-underwriter", "underwriter")
    port = free_port()
    log_path = tmp_path / "server.log"
    env = {**os.environ, "UW_DATABASE_URL": url, "UW_MAX_QUOTE_YEARS": "60000"}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "api.main:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    headers = {"Authorization": f"Bearer {key}"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                wait_until_ready(client, process, log_path)
                assert client.get("/healthz").json() == {"status": "ok"}

                response = client.post("/v1/quotes", json=example("bsl3_biobank"), headers=headers)
                assert response.status_code == 201, response.text
                quote = response.json()
                assert quote["status"] == "referred"
                assert quote["created_by"] == "net-underwriter"
                assert isinstance(quote["provenance"]["seed"], str)

                fetched = client.get(response.headers["Location"], headers=headers)
                assert fetched.status_code == 200
                assert fetched.json()["premium"] == quote["premium"]

                refused = client.get("/v1/quotes", headers={"Authorization": "Bearer nope"})
                assert refused.status_code == 401
                assert refused.headers["content-type"] == "application/problem+json"
                assert refused.headers["www-authenticate"] == "Bearer"

                oversized = client.post(
                    "/v1/quotes",
                    content=b" " * 1_100_000,
                    headers={**headers, "Content-Type": "application/json"},
                )
                assert oversized.status_code == 413
        finally:
            terminate(process, 15)
    text = log_path.read_text(encoding="utf-8", errors="replace")
    # uvicorn re-raises the SIGTERM after a graceful shutdown on recent versions.
    assert process.returncode in {0, -signal.SIGTERM}, text
    assert "Application shutdown complete" in text
    assert "Traceback" not in text

    # The acknowledged quote outlives the process.
    store = Store(url)
    try:
        with store.session() as session:
            record = session.get(QuoteRecord, quote["id"])
            assert record is not None
            assert record.quote["premium"]["total"] == quote["premium"]["total"]
    finally:
        store.engine.dispose()


def test_cli_creates_a_chief_underwriter_key(tmp_path: Path) -> None:
    """The rating tables' top authority level is a role a key can hold."""
    from api.cli import app as command

    url = f"sqlite:///{tmp_path}/uw.db"
    arguments = ["keys", "create", "--principal", "cleo", "--role", "chief_underwriter"]
    created = CliRunner().invoke(command, [*arguments, "--database-url", url])
    assert created.exit_code == 0, created.output
    summary = created.stdout.strip().splitlines()[0]
    assert summary.endswith("principal cleo  role chief_underwriter")


def test_cli_creates_lists_and_revokes_keys(tmp_path: Path) -> None:
    from api.cli import app as command

    url = f"sqlite:///{tmp_path}/uw.db"
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(command, [*args, "--database-url", url])

    created = run("keys", "create", "--principal", "carol", "--role", "senior_underwriter")
    assert created.exit_code == 0, created.output
    summary, key = created.stdout.strip().splitlines()
    key_id = summary.split()[1]
    assert summary == f"id {key_id}  principal carol  role senior_underwriter"
    assert key.startswith("uwk_")
    assert len(key) > 40
    headers = {"Authorization": f"Bearer {key}"}

    app = create_app(Settings(database_url=url), tables=uw.load_rating_tables("2026.1"))
    with TestClient(app) as client:
        assert client.get("/v1/quotes", headers=headers).status_code == 200

        listed = run("keys", "list")
        assert listed.exit_code == 0, listed.output
        assert listed.stdout.split() == [key_id, "carol", "senior_underwriter", "active"]
        assert key not in listed.output
        assert hash_key(key) not in listed.output

        revoked = run("keys", "revoke", key_id)
        assert revoked.exit_code == 0, revoked.output
        assert revoked.stdout.strip() == f"revoked {key_id}"
        refused = client.get("/v1/quotes", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == "Bearer"

        listed = run("keys", "list")
        assert listed.stdout.split() == [key_id, "carol", "senior_underwriter", "revoked"]

    again = run("keys", "revoke", key_id)
    assert again.exit_code == 1
    assert "no active key" in again.stderr

    wrong_role = run("keys", "create", "--principal", "eve", "--role", "root")
    assert wrong_role.exit_code == 2
    assert "role must be one of" in wrong_role.stderr
    assert "uwk_" not in wrong_role.output
    assert len(run("keys", "list").stdout.strip().splitlines()) == 1


@pytest.mark.skipif(
    not spreads_connections(8000), reason="SO_REUSEPORT spreads connections on Linux only"
)
def test_workers_on_sockets_of_their_own_share_the_connections(tmp_path: Path) -> None:
    """``underwriting serve --workers 2`` gives each worker its own listening socket, so the
    kernel spreads keep-alive connections between them (with one shared socket, a burst of
    connections could all land on one worker, the other idle); SIGTERM stops them all."""
    psutil = pytest.importorskip("psutil")
    url = f"sqlite:///{tmp_path}/uw.db"
    port = free_port()
    log_path = tmp_path / "server.log"
    command = [sys.executable, "-m", "api", "serve", "--workers", "2", "--port", str(port)]
    command += ["--database-url", url]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) for _ in range(16)]
        try:
            wait_until_ready(clients[0], process, log_path)
            parent = psutil.Process(process.pid)

            def connections(state: str) -> dict[int, int]:
                """Each live worker's sockets on the port in ``state``."""
                found = {}
                for child in parent.children():
                    try:
                        if "spawn_main" not in " ".join(child.cmdline()):
                            continue  # the resource tracker
                        found[child.pid] = sum(
                            1
                            for c in child.net_connections("tcp")
                            if c.laddr.port == port and c.status == state
                        )
                    except psutil.Error:  # a worker just killed, not yet reaped
                        continue
                return found

            deadline = time.monotonic() + READY_WITHIN_S
            while sorted(connections(psutil.CONN_LISTEN).values()) != [1, 1]:
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
            listening = {  # the socket (its inode) each worker listens on
                os.readlink(f"/proc/{child.pid}/fd/{c.fd}")
                for child in parent.children()
                for c in child.net_connections("tcp")
                if c.laddr.port == port and c.status == psutil.CONN_LISTEN
            }
            assert len(listening) == 2, listening  # one socket each, not one shared
            for client in clients:  # each keeps its connection open (keep-alive)
                assert client.get("/healthz").status_code == 200
            held = connections(psutil.CONN_ESTABLISHED)
            assert len(held) == 2
            assert sum(held.values()) == len(clients)
            # 16 connections hashed over two sockets: one idle worker has odds of 2 in 65,536.
            assert min(held.values()) > 0, held
            # A worker that dies is replaced: the port keeps two workers.
            dead = min(held)
            os.kill(dead, signal.SIGKILL)
            while set(connections(psutil.CONN_LISTEN)) in (set(held), set(held) - {dead}):
                assert time.monotonic() < deadline + READY_WITHIN_S, log_path.read_text()
                time.sleep(0.1)
            while sorted(connections(psutil.CONN_LISTEN).values()) != [1, 1]:
                assert time.monotonic() < deadline + READY_WITHIN_S, log_path.read_text()
                time.sleep(0.1)
            workers = [psutil.Process(pid) for pid in connections(psutil.CONN_LISTEN)]
        finally:
            for client in clients:
                client.close()
            terminate(process, 40)
    text = log_path.read_text(encoding="utf-8", errors="replace")
    assert process.returncode == 0, text
    assert text.count("Application shutdown complete") == 2, text
    assert "Traceback" not in text
    assert not any(worker.is_running() for worker in workers)


@pytest.mark.skipif(
    not spreads_connections(8000), reason="SO_REUSEPORT spreads connections on Linux only"
)
def test_workers_stop_when_the_server_is_killed(tmp_path: Path) -> None:
    """SIGKILL of ``underwriting serve --workers 2`` leaves no worker serving the port (the
    kernel sends each SIGTERM when its parent dies), so a new server cannot end up sharing the
    port with an old one's workers."""
    psutil = pytest.importorskip("psutil")
    port = free_port()
    log_path = tmp_path / "server.log"
    command = [sys.executable, "-m", "api", "serve", "--workers", "2", "--port", str(port)]
    command += ["--database-url", f"sqlite:///{tmp_path}/uw.db"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                wait_until_ready(client, process, log_path)
            workers = [
                child
                for child in psutil.Process(process.pid).children()
                if "spawn_main" in " ".join(child.cmdline())
            ]
            assert len(workers) == 2
            process.kill()
            process.wait()
            _, alive = psutil.wait_procs(workers, timeout=30)
            assert not alive, log_path.read_text()
        finally:
            terminate(process, 15)
    text = log_path.read_text(encoding="utf-8", errors="replace")
    assert text.count("Application shutdown complete") == 2, text


@pytest.mark.skipif(
    not spreads_connections(8000), reason="SO_REUSEPORT spreads connections on Linux only"
)
def test_workers_that_cannot_start_stop_the_server(tmp_path: Path) -> None:
    """A setting the application refuses at start-up (tables that do not exist) stops
    ``underwriting serve --workers 2`` with uvicorn's start-up failure code, 3, as one process
    would, instead of starting new workers forever."""
    command = [sys.executable, "-m", "api", "serve", "--workers", "2", "--port", str(free_port())]
    command += ["--database-url", f"sqlite:///{tmp_path}/uw.db"]
    env = {**os.environ, "UW_TABLES_VERSION": "1999.9"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "UW_TABLES_VERSION '1999.9' not found" in done.stdout + done.stderr
    assert "failed to start (3)" in done.stderr
