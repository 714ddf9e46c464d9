"""Real processes for the reliability tests: the quoting service, and a throwaway PostgreSQL.

The service runs as an operator starts it (``python -m api serve``, the ``underwriting serve``
command) on a free port, with cheap quotes (a few thousand simulated years) so a test can post
hundreds of them. ``ServiceProcess.kill`` is ``kill -9``: no shutdown code runs.

PostgreSQL comes from ``UW_TEST_POSTGRES_URL`` (a server the tests may create databases on), or
else a cluster made with ``initdb`` in a temporary folder and started with ``pg_ctl`` on a free
port; as root, both run as the ``postgres`` user (PostgreSQL refuses to run as root). Each test
gets a database of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from api.store import Store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
READY_WITHIN_S = 60.0
# Quotes of a few thousand years: each takes tens of milliseconds, so a test posts hundreds, with
# one key from several threads: the per-principal limits on simulation work are lifted here.
CHEAP_QUOTES = {
    "UW_MAX_QUOTE_YEARS": "2000",
    "UW_MAX_CONCURRENT_SIMULATIONS_PER_PRINCIPAL": "1000",
    "UW_MAX_SIMULATIONS_PER_MINUTE_PER_PRINCIPAL": "1000000",
}
# Referred (bsl3_biobank, chemistry_high_hazard) and quoted (physics_low_hazard) labs.
LABS = ("bsl3_biobank", "chemistry_high_hazard", "physics_low_hazard")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def create_key(url: str, principal: str, role: str) -> str:
    """A key made the way ``underwriting keys create`` makes it."""
    store = Store(url)
    try:
        store.create_schema()
        key, _ = store.create_key(principal, role)
        return key
    finally:
        store.engine.dispose()


def quote_body(lab: str, rng: random.Random) -> dict[str, Any]:
    """An example lab's request with a seed of its own (so every quote differs)."""
    body: dict[str, Any] = json.loads((EXAMPLES / f"{lab}.json").read_text(encoding="utf-8"))
    body["target_relative_error"] = 0.2
    body["seed"] = str(rng.getrandbits(64))
    return body


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class ServiceProcess:
    """``python -m api serve`` on one database; started, killed and restarted by a test."""

    def __init__(self, database_url: str, log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.database_url = database_url
        self.log_dir = log_dir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **CHEAP_QUOTES, **(env or {})}
        self.env.pop("DATABASE_URL", None)
        self.env.pop("UW_DATABASE_URL", None)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log_paths(self) -> list[Path]:
        return [self.log_dir / f"server-{n}.log" for n in range(1, self.starts + 1)]

    def logs(self) -> str:
        return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in self.log_paths)

    def start(self) -> None:
        assert self.process is None, "already running"
        self.starts += 1
        command = [
            sys.executable,
            "-m",
            "api",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--database-url",
            self.database_url,
        ]
        with self.log_paths[-1].open("wb") as log:
            self.process = subprocess.Popen(
                command, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + READY_WITHIN_S
        with httpx.Client(base_url=self.base_url, timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"the server exited with {self.process.returncode}:\n{self.logs()}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/readyz").status_code == 200:
                        return
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"the server was not ready within {READY_WITHIN_S} s:\n{self.logs()}")

    def kill(self) -> None:
        """``kill -9``: the process dies at once, mid-request or mid-commit."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.process = None

    def stop(self) -> int:
        """A graceful stop (SIGTERM); returns the exit status."""
        assert self.process is not None
        self.process.terminate()
        try:
            returncode = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - only if shutdown hangs
            self.process.kill()
            returncode = self.process.wait()
        self.process = None
        return returncode

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``, nearest rank."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))
    return ordered[index]


# --------------------------------------------------------------------------- PostgreSQL


def _postgres_binaries() -> tuple[Path, Path] | None:
    """``initdb`` and ``pg_ctl``: on the PATH, or in the newest /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("initdb"), shutil.which("pg_ctl")
    if on_path[0] and on_path[1]:
        return Path(on_path[0]), Path(on_path[1])
    for folder in sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    ):
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder / "initdb", folder / "pg_ctl"
    return None


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as libpq takes it (no ``+driver``)."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def sqlalchemy_url(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"postgresql+psycopg://{rest}" if "+" not in scheme else url


@dataclass
class PostgresServer:
    """A PostgreSQL server the tests may create databases on."""

    admin_url: str  # a SQLAlchemy URL (postgresql+psycopg://...)
    description: str

    def new_database(self) -> str:
        """A fresh, empty database; its SQLAlchemy URL."""
        import psycopg

        name = f"uw_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(libpq_url(self.admin_url), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        base, _, _ = self.admin_url.rpartition("/")
        query = self.admin_url.partition("?")[2]
        return f"{base}/{name}" + (f"?{query}" if query else "")

    def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`new_database`, closing what is still connected.

        The test role ends its own sessions (a killed server's may linger); a plain DROP then
        stops an autovacuum worker itself. ``WITH (FORCE)`` would instead need the right to end
        every session, autovacuum's included, which a non-superuser test role lacks.
        """
        import psycopg

        name = url.rpartition("/")[2].partition("?")[0]
        with psycopg.connect(libpq_url(self.admin_url), autocommit=True) as connection:
            for attempt in range(20):
                connection.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                    "AND pid <> pg_backend_pid() AND usename = current_user",
                    (name,),
                )
                try:
                    connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
                    return
                except psycopg.errors.ObjectInUse:
                    if attempt == 19:
                        raise
                    time.sleep(0.5)


class PostgresUnavailable(Exception):  # noqa: N818 - a reason to skip, not an error
    """Why the PostgreSQL tests cannot run here."""


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """The server named by ``UW_TEST_POSTGRES_URL``, or a throwaway cluster for the session.

    Raises :class:`PostgresUnavailable` (with the reason) when neither is possible.
    """
    given = os.environ.get("UW_TEST_POSTGRES_URL")
    if given:
        yield PostgresServer(sqlalchemy_url(given), f"UW_TEST_POSTGRES_URL ({given})")
        return
    binaries = _postgres_binaries()
    if binaries is None:
        raise PostgresUnavailable(
            "no server in UW_TEST_POSTGRES_URL and no initdb/pg_ctl on the PATH or in "
            "/usr/lib/postgresql/*/bin"
        )
    initdb, pg_ctl = binaries
    run_as: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root; run it as the postgres user.
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError as error:
            raise PostgresUnavailable(
                "running as root and there is no 'postgres' user to run the server as"
            ) from error
        runuser = shutil.which("runuser")
        if runuser is None:
            raise PostgresUnavailable("running as root and there is no runuser command")
        run_as = [runuser, "-u", "postgres", "--"]
    # Not pytest's tmp_path: its base folder is private to the test user (0700), and the server
    # may run as another user.
    folder = Path(tempfile.mkdtemp(prefix="uw-test-postgres-"))
    data = folder / "data"
    if owner is not None:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    port = free_port()
    log = folder / "postgres.log"
    try:
        subprocess.run(
            [*run_as, str(initdb), "-D", str(data), "-U", "uw", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            env={**os.environ, "LC_ALL": "C"},
        )
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
        started = subprocess.run(
            [*run_as, str(pg_ctl), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"],
            capture_output=True,
            text=True,
        )
        if started.returncode != 0:
            raise PostgresUnavailable(
                f"pg_ctl start failed: {started.stderr.strip()}\n"
                + (log.read_text(errors="replace") if log.exists() else "")
            )
    except subprocess.CalledProcessError as error:
        shutil.rmtree(folder, ignore_errors=True)
        stderr = error.stderr.decode(errors="replace") if error.stderr else ""
        raise PostgresUnavailable(f"initdb failed: {stderr.strip()}") from error
    except PostgresUnavailable:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        yield PostgresServer(
            f"postgresql+psycopg://uw@127.0.0.1:{port}/postgres",
            f"a throwaway cluster ({initdb.parent}, port {port})",
        )
    finally:
        subprocess.run(
            [*run_as, str(pg_ctl), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)
