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
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:  # pragma: no cover - only if it hangs
                process.kill()
                process.wait()
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
