"""The reliability scenarios, run on any database: the tests pick SQLite or PostgreSQL.

``crash_cycles``: clients post quotes and referral decisions while the server is killed with
``kill -9`` at random moments and restarted; everything acknowledged must come back identical, and
nothing stored may be partial. ``load``: many clients at once for a while; every response must be
the expected one. ``idempotency_race`` and ``decision_race``: many clients send the same thing at
the same instant.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from servers import LABS, ServiceProcess, bearer, create_key, percentile, quote_body
from sqlalchemy import func, select

import underwriting as uw
from api.store import SCHEMA_VERSION, DecisionRecord, QuoteRecord, SchemaInfo, Store

DECIDED_STATUS = {"approve": "approved", "decline": "declined"}
QUOTE_FIELDS = {
    "valid_until",
    "decision",
    "premium",
    "worksheet",
    "options",
    "metrics",
    "experience",
    "provenance",
}


# --------------------------------------------------------------------------- crash durability


@dataclass
class CrashReport:
    cycles: int
    quotes_acknowledged: int
    decisions_acknowledged: int
    retried_after_crash: int
    rows: int
    checks: int  # acknowledged quotes compared with what the server returns, over all restarts
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.cycles} kill -9 cycles: {self.quotes_acknowledged} quotes and "
            f"{self.decisions_acknowledged} referral decisions acknowledged, "
            f"{self.retried_after_crash} unacknowledged posts retried with their "
            f"Idempotency-Key, {self.rows} rows stored, {self.checks} retrievals compared, "
            f"{len(self.problems)} problems"
        )


@dataclass
class _Ledger:
    """What the clients were told, shared by their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    quotes: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> 201 body
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)  # Idempotency-Key -> body
    key_of: dict[str, str] = field(default_factory=dict)  # id -> Idempotency-Key
    unanswered: set[str] = field(default_factory=set)  # Idempotency-Keys without a 201
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> 200 body
    attempted: set[str] = field(default_factory=set)  # ids a decision was posted for
    problems: list[str] = field(default_factory=list)


def _quoter(
    server: ServiceProcess, key: str, ledger: _Ledger, rng: random.Random, stop: threading.Event
) -> None:
    with httpx.Client(base_url=server.base_url, headers=bearer(key), timeout=60) as client:
        while not stop.is_set():
            body = quote_body(rng.choice(LABS), rng)
            idempotency_key = str(uuid.uuid4())
            with ledger.lock:
                ledger.sent[idempotency_key] = body
                ledger.unanswered.add(idempotency_key)
            try:
                response = client.post(
                    "/v1/quotes", json=body, headers={"Idempotency-Key": idempotency_key}
                )
            except httpx.TransportError:
                return  # the server died: this post stays unanswered, to be retried
            with ledger.lock:
                if response.status_code != 201:
                    ledger.problems.append(
                        f"POST /v1/quotes: {response.status_code} {response.text}"
                    )
                    continue
                quote = response.json()
                ledger.quotes[quote["id"]] = quote
                ledger.key_of[quote["id"]] = idempotency_key
                ledger.unanswered.discard(idempotency_key)


def _decider(
    server: ServiceProcess, key: str, ledger: _Ledger, rng: random.Random, stop: threading.Event
) -> None:
    with httpx.Client(base_url=server.base_url, headers=bearer(key), timeout=60) as client:
        while not stop.is_set():
            with ledger.lock:
                waiting = [
                    quote_id
                    for quote_id, quote in ledger.quotes.items()
                    if quote["status"] == "referred" and quote_id not in ledger.attempted
                ]
                if waiting:
                    quote_id = rng.choice(waiting)
                    ledger.attempted.add(quote_id)
            if not waiting:
                time.sleep(0.02)
                continue
            decision = rng.choice(("approve", "decline"))
            try:
                response = client.post(
                    f"/v1/quotes/{quote_id}/decision",
                    json={"decision": decision, "note": f"{decision}d under test"},
                )
            except httpx.TransportError:
                return
            with ledger.lock:
                if response.status_code != 200:
                    ledger.problems.append(
                        f"POST decision {quote_id}: {response.status_code} {response.text}"
                    )
                    continue
                ledger.decisions[quote_id] = response.json()


def _without_referral(quote: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in _stored_part(quote).items()
        if k not in ("status", "referral_decision", "referral")
    }


def _stored_part(quote: dict[str, Any]) -> dict[str, Any]:
    """A quote as stored: without ``available_actions``, which are the viewer's (a senior may
    approve a referral that its underwriter may not)."""
    return {k: v for k, v in quote.items() if k != "available_actions"}


def _check_served(client: httpx.Client, ledger: _Ledger) -> tuple[int, list[str]]:
    """Every acknowledged quote and decision, as the restarted server returns it."""
    problems: list[str] = []
    for quote_id, acknowledged in ledger.quotes.items():
        response = client.get(f"/v1/quotes/{quote_id}")
        if response.status_code != 200:
            problems.append(f"acknowledged quote {quote_id} lost: {response.status_code}")
            continue
        served = response.json()
        referral = served["referral_decision"]
        if quote_id in ledger.decisions:
            if _stored_part(served) != _stored_part(ledger.decisions[quote_id]):
                problems.append(f"decided quote {quote_id} differs from its decision's 200")
        elif referral is None:
            if _stored_part(served) != _stored_part(acknowledged):
                problems.append(f"quote {quote_id} differs from its 201")
        else:
            # A decision that was posted but not acknowledged (killed): wholly there or not at all.
            if quote_id not in ledger.attempted:
                problems.append(f"quote {quote_id} decided by no one")
            if _without_referral(served) != _without_referral(acknowledged):
                problems.append(f"decided quote {quote_id} differs from its 201")
        if referral is not None and served["status"] != DECIDED_STATUS[referral["decision"]]:
            problems.append(f"quote {quote_id} half-decided: status {served['status']}")
        if referral is None and served["status"] != served["decision"]["outcome"]:
            problems.append(
                f"quote {quote_id} half-decided: status {served['status']}, no decision"
            )
    return len(ledger.quotes), problems


def _check_rows(url: str, ledger: _Ledger) -> tuple[int, list[str]]:
    """Every stored row complete and consistent; every post stored exactly once."""
    problems: list[str] = []
    store = Store(url)
    try:
        with store.session() as session:
            rows = list(session.scalars(select(QuoteRecord)))
            decisions = {d.quote_id: d for d in session.scalars(select(DecisionRecord))}
    finally:
        store.engine.dispose()
    keys = Counter(row.idempotency_key for row in rows)
    if duplicated := [k for k, n in keys.items() if n > 1]:
        problems.append(f"{len(duplicated)} Idempotency-Keys stored more than once")
    if missing := set(ledger.sent) - set(keys):
        problems.append(f"{len(missing)} posts never stored, even after their retry")
    if unknown := set(keys) - set(ledger.sent):
        problems.append(f"{len(unknown)} rows no client sent")
    for row in rows:
        try:
            request = uw.QuoteRequest.model_validate(row.request)
        except Exception as error:  # any failure is a partial record
            problems.append(f"row {row.id}: stored request does not validate: {error}")
            continue
        sent = ledger.sent.get(row.idempotency_key or "")
        if sent is not None and uw.QuoteRequest.model_validate(sent) != request:
            problems.append(f"row {row.id}: stored request is not the one sent")
        if not row.quote.keys() >= QUOTE_FIELDS:
            problems.append(f"row {row.id}: quote lacks {sorted(QUOTE_FIELDS - row.quote.keys())}")
            continue
        if row.outcome != row.quote["decision"]["outcome"] or row.lab_id != (
            request.submission.lab_id
        ):
            problems.append(f"row {row.id}: outcome or lab differs from the stored quote")
        decided = decisions.get(row.id)
        expected = row.outcome if decided is None else DECIDED_STATUS[decided.decision]
        if row.status != expected:
            problems.append(f"row {row.id}: status {row.status}, expected {expected}")
        if decided is not None and row.outcome != "referred":
            problems.append(f"row {row.id}: a decision on a quote that was {row.outcome}")
    if orphans := set(decisions) - {row.id for row in rows}:
        problems.append(f"{len(orphans)} decisions on no quote")
    return len(rows), problems


def crash_cycles(
    url: str, log_dir: Path, *, cycles: int, seed: int, quoters: int = 4
) -> CrashReport:
    """Post quotes and decisions, ``kill -9`` the server at a random moment, restart; repeat.

    After every restart each acknowledged quote and decision is fetched and compared with the
    response that acknowledged it; at the end the unanswered posts are retried with their
    Idempotency-Key, and the rows are read straight from the database.
    """
    rng = random.Random(seed)
    underwriter = create_key(url, "crash-underwriter", "underwriter")
    senior = create_key(url, "crash-senior", "senior_underwriter")
    ledger = _Ledger()
    checks = 0
    with ServiceProcess(url, log_dir) as server:
        for cycle in range(cycles):
            server.start()
            with httpx.Client(base_url=server.base_url, headers=bearer(senior)) as client:
                checked, problems = _check_served(client, ledger)
            checks += checked
            ledger.problems += [f"after restart {cycle}: {p}" for p in problems]
            stop = threading.Event()
            workers = [
                threading.Thread(
                    target=_quoter,
                    args=(server, underwriter, ledger, random.Random(rng.random()), stop),
                )
                for _ in range(quoters)
            ]
            workers.append(
                threading.Thread(
                    target=_decider,
                    args=(server, senior, ledger, random.Random(rng.random()), stop),
                )
            )
            for worker in workers:
                worker.start()
            time.sleep(rng.uniform(0.5, 3.0))
            server.kill()
            stop.set()
            for worker in workers:
                worker.join()

        server.start()
        with httpx.Client(base_url=server.base_url, headers=bearer(senior), timeout=60) as client:
            checked, problems = _check_served(client, ledger)
            checks += checked
            ledger.problems += [f"after the last restart: {p}" for p in problems]
        retried = sorted(ledger.unanswered)
        with httpx.Client(
            base_url=server.base_url, headers=bearer(underwriter), timeout=60
        ) as client:
            for idempotency_key in retried:
                response = client.post(
                    "/v1/quotes",
                    json=ledger.sent[idempotency_key],
                    headers={"Idempotency-Key": idempotency_key},
                )
                if response.status_code != 201:
                    ledger.problems.append(f"retry {idempotency_key}: {response.status_code}")
        returncode = server.stop()
        if returncode not in (0, -15):
            ledger.problems.append(f"the server stopped with {returncode}")
    rows, problems = _check_rows(url, ledger)
    ledger.problems += problems
    log = server.logs()
    if "Traceback" in log:
        ledger.problems.append("the server logged a traceback:\n" + log[log.index("Traceback") :])
    return CrashReport(
        cycles=cycles,
        quotes_acknowledged=len(ledger.quotes),
        decisions_acknowledged=len(ledger.decisions),
        retried_after_crash=len(retried),
        rows=rows,
        checks=checks,
        problems=ledger.problems,
    )


# --------------------------------------------------------------------------- concurrency


@dataclass
class LoadReport:
    clients: int
    seconds: float
    requests: Counter[str]
    latencies: list[float]
    errors: list[str]
    locked: int  # 'database is locked' in the server's log

    def summary(self) -> str:
        by_endpoint = ", ".join(f"{name} {n}" for name, n in sorted(self.requests.items()))
        return (
            f"{self.clients} clients for {self.seconds:.0f} s: {sum(self.requests.values())} "
            f"requests ({by_endpoint}), {len(self.errors)} errors, {self.locked} 'database is "
            f"locked', p50 {percentile(self.latencies, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(self.latencies, 0.99) * 1000:.0f} ms"
        )


def _load_client(
    server: ServiceProcess,
    key: str,
    senior: bool,
    referred: list[str],
    deadline: float,
    rng: random.Random,
    lock: threading.Lock,
) -> tuple[Counter[str], list[float], list[str]]:
    """One client's loop: quotes (some retried with their Idempotency-Key), reads, decisions."""
    counts: Counter[str] = Counter()
    latencies: list[float] = []
    errors: list[str] = []
    mine: list[tuple[str, dict[str, Any], dict[str, Any]]] = []  # (key, body, 201 body)

    def call(name: str, method: str, path: str, expected: int, **kwargs: Any) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = client.request(method, path, **kwargs)
        except httpx.TransportError as error:
            errors.append(f"{name}: {type(error).__name__}: {error}")
            raise
        finally:
            latencies.append(time.perf_counter() - started)
            counts[name] += 1
        if response.status_code != expected:
            errors.append(f"{name}: {response.status_code} {response.text[:300]}")
        return response

    with httpx.Client(base_url=server.base_url, headers=bearer(key), timeout=120) as client:
        while time.monotonic() < deadline:
            draw = rng.random()
            try:
                if senior and draw < 0.3:
                    with lock:
                        quote_id = referred.pop() if referred else None
                    if quote_id is not None:
                        call(
                            "POST decision",
                            "POST",
                            f"/v1/quotes/{quote_id}/decision",
                            200,
                            json={"decision": "approve", "note": "approved under load"},
                        )
                        continue
                if mine and draw < 0.15:
                    idempotency_key, body, first = rng.choice(mine)
                    again = call(
                        "POST quote (retry)",
                        "POST",
                        "/v1/quotes",
                        201,
                        json=body,
                        headers={"Idempotency-Key": idempotency_key},
                    )
                    if again.status_code == 201 and (
                        again.json()["id"] != first["id"]
                        or again.headers.get("Idempotent-Replayed") != "true"
                    ):
                        errors.append(f"retry of {idempotency_key} made another quote")
                elif mine and draw < 0.35:
                    _, _, first = rng.choice(mine)
                    call("GET quote", "GET", f"/v1/quotes/{first['id']}", 200)
                elif draw < 0.45:
                    call("GET quotes", "GET", "/v1/quotes", 200, params={"limit": 20})
                else:
                    body = quote_body(rng.choice(LABS), rng)
                    idempotency_key = str(uuid.uuid4())
                    response = call(
                        "POST quote",
                        "POST",
                        "/v1/quotes",
                        201,
                        json=body,
                        headers={"Idempotency-Key": idempotency_key},
                    )
                    if response.status_code == 201:
                        quote = response.json()
                        mine.append((idempotency_key, body, quote))
                        if quote["status"] == "referred":
                            with lock:
                                referred.append(quote["id"])
            except httpx.TransportError:
                time.sleep(0.1)
    return counts, latencies, errors


def load(url: str, log_dir: Path, *, clients: int, seconds: float, seed: int) -> LoadReport:
    """``clients`` clients at once for ``seconds``; a quarter are senior underwriters deciding
    the referrals the others create. Every response must be the expected one."""
    rng = random.Random(seed)
    seniors = max(1, clients // 4)
    keys = [
        create_key(url, f"load-{n}", "senior_underwriter" if n < seniors else "underwriter")
        for n in range(clients)
    ]
    referred: list[str] = []
    lock = threading.Lock()
    with ServiceProcess(url, log_dir) as server:
        server.start()
        deadline = time.monotonic() + seconds
        with ThreadPoolExecutor(max_workers=clients) as pool:
            futures = [
                pool.submit(
                    _load_client,
                    server,
                    key,
                    n < seniors,
                    referred,
                    deadline,
                    random.Random(rng.random()),
                    lock,
                )
                for n, key in enumerate(keys)
            ]
            results = [future.result() for future in futures]
        returncode = server.stop()
    counts: Counter[str] = Counter()
    latencies: list[float] = []
    errors: list[str] = []
    for client_counts, client_latencies, client_errors in results:
        counts += client_counts
        latencies += client_latencies
        errors += client_errors
    if returncode not in (0, -15):
        errors.append(f"the server stopped with {returncode}")
    log = server.logs()
    if "Traceback" in log:
        errors.append("the server logged a traceback:\n" + log[log.index("Traceback") :][:3000])
    return LoadReport(
        clients=clients,
        seconds=seconds,
        requests=counts,
        latencies=latencies,
        errors=errors,
        locked=log.count("database is locked"),
    )


def _at_once(count: int, send: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """``send(0)``, ..., ``send(count - 1)`` from as many threads, released at the same instant."""
    barrier = threading.Barrier(count)

    def one(n: int) -> httpx.Response:
        barrier.wait()
        return send(n)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def idempotency_race(url: str, log_dir: Path, *, clients: int, rounds: int) -> list[str]:
    """``clients`` posts of one body with one Idempotency-Key at the same instant, ``rounds``
    times: each round must store exactly one quote and answer every post with it."""
    problems: list[str] = []
    key = create_key(url, "race-underwriter", "underwriter")
    rng = random.Random(rounds)
    with ServiceProcess(url, log_dir) as server:
        server.start()
        with httpx.Client(
            base_url=server.base_url,
            headers=bearer(key),
            timeout=120,
            limits=httpx.Limits(max_connections=clients),
        ) as client:
            for _ in range(rounds):
                body = quote_body(rng.choice(LABS), rng)
                idempotency_key = str(uuid.uuid4())

                def post(_: int, body: Any = body, idempotency_key: str = idempotency_key) -> Any:
                    return client.post(
                        "/v1/quotes", json=body, headers={"Idempotency-Key": idempotency_key}
                    )

                responses = _at_once(clients, post)
                statuses = Counter(r.status_code for r in responses)
                if statuses != {201: clients}:
                    problems.append(f"statuses {dict(statuses)}")
                    continue
                ids = {r.json()["id"] for r in responses}
                fresh = [r for r in responses if r.headers.get("Idempotent-Replayed") != "true"]
                if len(ids) != 1 or len(fresh) != 1:
                    problems.append(f"{len(ids)} quotes, {len(fresh)} answered as new")
                if len({r.content for r in responses}) != 1:
                    problems.append("the answers differ")
        server.stop()
    store = Store(url)
    try:
        with store.session() as session:
            stored = session.scalar(select(func.count()).select_from(QuoteRecord))
    finally:
        store.engine.dispose()
    if stored != rounds:
        problems.append(f"{stored} quotes stored for {rounds} idempotency keys")
    return problems


def decision_race(url: str, log_dir: Path, *, clients: int, rounds: int) -> list[str]:
    """``clients`` senior underwriters decide one referred quote at the same instant: exactly
    one is told 200, the others 409, and the stored decision is the one told 200."""
    problems: list[str] = []
    underwriter = create_key(url, "race-underwriter", "underwriter")
    seniors = [create_key(url, f"race-senior-{n}", "senior_underwriter") for n in range(clients)]
    rng = random.Random(rounds)
    with ServiceProcess(url, log_dir) as server:
        server.start()
        clients_ = [
            httpx.Client(base_url=server.base_url, headers=bearer(k), timeout=120) for k in seniors
        ]
        try:
            with httpx.Client(base_url=server.base_url, headers=bearer(underwriter)) as client:
                referred: list[str] = []
                while len(referred) < rounds:
                    response = client.post(
                        "/v1/quotes", json=quote_body("bsl3_biobank", rng), timeout=120
                    )
                    assert response.status_code == 201, response.text
                    referred.append(response.json()["id"])
            for quote_id in referred:

                def decide(n: int, quote_id: str = quote_id) -> httpx.Response:
                    return clients_[n].post(
                        f"/v1/quotes/{quote_id}/decision",
                        json={"decision": "approve" if n % 2 else "decline", "note": f"senior {n}"},
                    )

                responses = _at_once(clients, decide)
                statuses = Counter(r.status_code for r in responses)
                if statuses != {200: 1, 409: clients - 1}:
                    problems.append(f"quote {quote_id}: statuses {dict(statuses)}")
                    continue
                winner = next(r.json() for r in responses if r.status_code == 200)
                served = clients_[0].get(f"/v1/quotes/{quote_id}").json()
                if served != winner:
                    problems.append(f"quote {quote_id}: stored decision is not the one told 200")
        finally:
            for c in clients_:
                c.close()
        server.stop()
    log = server.logs()
    if "Traceback" in log:
        problems.append("the server logged a traceback:\n" + log[log.index("Traceback") :][:3000])
    return problems


def stores_starting_together(url: str, *, stores: int) -> None:
    """``stores`` stores created on ``url`` and started at one instant (as replicas of the
    service start together on a new database): every one must start, and the schema is there
    once."""
    opened = [Store(url) for _ in range(stores)]
    barrier = threading.Barrier(len(opened))

    def start(store: Store) -> None:
        barrier.wait()
        store.create_schema()

    try:
        with ThreadPoolExecutor(max_workers=len(opened)) as pool:
            for future in [pool.submit(start, store) for store in opened]:
                future.result()
        with opened[0].session() as session:
            assert session.scalars(select(SchemaInfo)).all()[0].version == SCHEMA_VERSION
    finally:
        for store in opened:
            store.engine.dispose()
