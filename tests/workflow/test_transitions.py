"""The workflow's transitions: every (state, action, role) against a table written out here, and
a hypothesis state machine over actions, roles and times against a small model of the rules."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from quote_records import (
    ACTORS,
    ADMIN,
    CHIEF,
    SENIOR,
    UNDERWRITER,
    WHEN,
    new_record,
    tables,
)

import underwriting as uw
from underwriting.workflow import (
    TRANSITIONS,
    Action,
    Actor,
    QuoteRecord,
    Status,
    approve,
    available_actions,
    bind,
    decline,
    effective_status,
    expire,
    offer,
    record_from_dict,
    refer,
    supersede,
    transition,
)

TABLES = tables()
VALID = WHEN + dt.timedelta(hours=1)


def apply(record: QuoteRecord, action: Action, actor: Actor, at: dt.datetime) -> QuoteRecord:
    """Take ``action`` with the arguments the table test uses: a referral to the chief
    underwriter, an offer of +30 % (beyond an underwriter's band), a revision ``q2``."""
    if action == Action.REFER:
        return refer(record, authority="chief_underwriter", actor=actor, at=at, tables=TABLES)
    if action == Action.OFFER:
        credits = {"survey_poor_housekeeping": 0.15, "values_concentrated": 0.15}
        return offer(record, credits, actor=actor, at=at, tables=TABLES)
    if action == Action.SUPERSEDE:
        return supersede(record, by="q2", actor=actor, at=at, tables=TABLES)
    verbs: dict[Action, Callable[..., QuoteRecord]] = {
        Action.APPROVE: approve,
        Action.DECLINE: decline,
        Action.BIND: bind,
        Action.EXPIRE: expire,
    }
    return verbs[action](record, actor=actor, at=at, tables=TABLES)


def record_in(status: Status) -> QuoteRecord:
    """A record brought to ``status`` by the workflow's own actions (``referred``: to a senior)."""
    quoted = new_record("physics_low_hazard")
    referred = new_record("bsl3_biobank")
    after = quoted.valid_until + dt.timedelta(days=1)
    return {
        Status.QUOTED: lambda: quoted,
        Status.REFERRED: lambda: referred,
        Status.APPROVED: lambda: approve(referred, actor=SENIOR, at=VALID, tables=TABLES),
        Status.DECLINED: lambda: decline(quoted, actor=UNDERWRITER, at=VALID, tables=TABLES),
        Status.BOUND: lambda: bind(quoted, actor=UNDERWRITER, at=VALID, tables=TABLES),
        Status.EXPIRED: lambda: expire(quoted, actor=UNDERWRITER, at=after, tables=TABLES),
        Status.SUPERSEDED: lambda: supersede(quoted, by="q2", actor=ADMIN, at=VALID, tables=TABLES),
    }[status]()


# What each role gets, in the order underwriter, senior_underwriter, chief_underwriter, admin,
# actuary: ok; "state" (TransitionError); "authority" (AuthorityError); "expired"
# (QuoteExpiredError); "refused" (another WorkflowError: expiring a valid quote, or referring
# to an authority not above one's own).
EVERYONE = ("ok", "ok", "ok", "ok", "authority")
NO_ONE = ("state", "state", "state", "state", "authority")
TOO_EARLY = ("refused", "refused", "refused", "refused", "authority")
SENIOR_UP = ("authority", "ok", "ok", "ok", "authority")
TO_CHIEF = ("ok", "ok", "refused", "ok", "authority")
OUTCOMES: dict[Status, dict[Action, tuple[str, ...]]] = {
    Status.QUOTED: {
        Action.REFER: TO_CHIEF,
        Action.OFFER: EVERYONE,
        Action.APPROVE: NO_ONE,
        Action.DECLINE: EVERYONE,
        Action.BIND: EVERYONE,
        Action.EXPIRE: TOO_EARLY,
        Action.SUPERSEDE: EVERYONE,
    },
    Status.REFERRED: {
        Action.REFER: TO_CHIEF,
        Action.OFFER: EVERYONE,
        Action.APPROVE: SENIOR_UP,
        Action.DECLINE: SENIOR_UP,
        Action.BIND: NO_ONE,
        Action.EXPIRE: TOO_EARLY,
        Action.SUPERSEDE: EVERYONE,
    },
    Status.APPROVED: {
        Action.REFER: NO_ONE,
        Action.OFFER: NO_ONE,
        Action.APPROVE: NO_ONE,
        Action.DECLINE: NO_ONE,
        Action.BIND: EVERYONE,
        Action.EXPIRE: TOO_EARLY,
        Action.SUPERSEDE: EVERYONE,
    },
    Status.DECLINED: {**dict.fromkeys(Action, NO_ONE), Action.SUPERSEDE: EVERYONE},
    Status.BOUND: dict.fromkeys(Action, NO_ONE),
    Status.EXPIRED: {**dict.fromkeys(Action, NO_ONE), Action.SUPERSEDE: EVERYONE},
    Status.SUPERSEDED: dict.fromkeys(Action, NO_ONE),
}
EXPIRED_OPEN = ("expired", "expired", "expired", "expired", "authority")
# Past valid_until, an open quote can only be expired or superseded.
OUTCOMES_PAST_VALIDITY: dict[Status, dict[Action, tuple[str, ...]]] = {
    status: {
        action: (
            EVERYONE
            if action in (Action.EXPIRE, Action.SUPERSEDE)
            else EXPIRED_OPEN
            if OUTCOMES[status][action] != NO_ONE
            else NO_ONE
        )
        for action in Action
    }
    for status in (Status.QUOTED, Status.REFERRED, Status.APPROVED)
}
ERRORS: dict[str, type[uw.WorkflowError]] = {
    "state": uw.TransitionError,
    "authority": uw.AuthorityError,
    "expired": uw.QuoteExpiredError,
    "refused": uw.WorkflowError,
}


def _check_outcome(
    record: QuoteRecord, action: Action, actor: Actor, at: dt.datetime, expected: str
) -> None:
    if expected == "ok":
        after = apply(record, action, actor, at)
        assert len(after.history) == len(record.history) + 1
        event = after.history[-1]
        assert (event.action, event.actor, event.role) == (action.value, actor.name, actor.role)
        assert event.from_status == record.status
        assert event.to_status == after.status
        assert after.history[:-1] == record.history
        return
    with pytest.raises(ERRORS[expected]) as raised:
        apply(record, action, actor, at)
    assert type(raised.value) is ERRORS[expected] or expected == "refused"
    if expected == "refused":
        assert not isinstance(
            raised.value, uw.TransitionError | uw.AuthorityError | uw.QuoteExpiredError
        )
    assert raised.value.status == record.status.value
    assert raised.value.action == action.value


@pytest.mark.parametrize("status", list(Status), ids=str)
@pytest.mark.parametrize("action", list(Action), ids=str)
@pytest.mark.parametrize("actor", ACTORS, ids=lambda actor: actor.role)
def test_every_state_action_and_role(status: Status, action: Action, actor: Actor) -> None:
    record = record_in(status)
    expected = OUTCOMES[status][action][ACTORS.index(actor)]
    _check_outcome(record, action, actor, max(VALID, record.history[-1].at), expected)


@pytest.mark.parametrize("status", [Status.QUOTED, Status.REFERRED, Status.APPROVED], ids=str)
@pytest.mark.parametrize("action", list(Action), ids=str)
@pytest.mark.parametrize("actor", ACTORS, ids=lambda actor: actor.role)
def test_every_action_on_an_open_quote_past_its_validity(
    status: Status, action: Action, actor: Actor
) -> None:
    record = record_in(status)
    after = record.valid_until + dt.timedelta(seconds=1)
    expected = OUTCOMES_PAST_VALIDITY[status][action][ACTORS.index(actor)]
    _check_outcome(record, action, actor, after, expected)


def test_the_table_of_transitions_is_the_one_place_that_says_what_is_legal() -> None:
    for status, row in OUTCOMES.items():
        for action, outcomes in row.items():
            legal = outcomes != NO_ONE
            if legal:
                assert transition(status, action).action == action
            else:
                with pytest.raises(uw.TransitionError):
                    transition(status, action)
    assert {t.action for t in TRANSITIONS} == set(Action)


def test_an_illegal_transition_names_the_state_the_action_and_the_states_that_allow_it() -> None:
    record = record_in(Status.BOUND)
    with pytest.raises(uw.TransitionError) as raised:
        approve(record, actor=CHIEF, at=VALID, tables=TABLES)
    message = str(raised.value)
    assert "cannot approve a quote that is bound" in message
    assert "only a quote that is referred can be approved" in message
    assert raised.value.allowed_from == ("referred",)
    with pytest.raises(uw.TransitionError, match="quoted or approved can be bound"):
        bind(record, actor=CHIEF, at=VALID, tables=TABLES)


def test_an_expired_quote_cannot_be_decided_or_bound_and_the_error_names_the_date() -> None:
    record = record_in(Status.REFERRED)
    late = record.valid_until + dt.timedelta(days=2)
    date = re.escape(f"valid until {record.valid_until.isoformat(timespec='seconds')}")
    with pytest.raises(uw.QuoteExpiredError, match=date) as raised:
        approve(record, actor=CHIEF, at=late, tables=TABLES)
    assert raised.value.valid_until == record.valid_until.isoformat()
    with pytest.raises(uw.QuoteExpiredError, match=date):
        bind(record_in(Status.QUOTED), actor=UNDERWRITER, at=late, tables=TABLES)
    # Exactly at valid_until the quote is still valid.
    approved = approve(record, actor=SENIOR, at=record.valid_until, tables=TABLES)
    assert approved.status == Status.APPROVED
    assert effective_status(record, late) == Status.EXPIRED
    assert effective_status(record, record.valid_until) == Status.REFERRED
    assert effective_status(record_in(Status.BOUND), late) == Status.BOUND


def test_a_referral_to_the_chief_needs_the_chief() -> None:
    record = refer(
        record_in(Status.QUOTED),
        authority="chief_underwriter",
        actor=UNDERWRITER,
        at=VALID,
        tables=TABLES,
    )
    assert record.referral is not None
    assert record.referral.authority == "chief_underwriter"
    with pytest.raises(uw.AuthorityError, match="'chief_underwriter'") as raised:
        approve(record, actor=SENIOR, at=VALID, tables=TABLES)
    assert raised.value.required == "chief_underwriter"
    assert "the authority its referral names" in str(raised.value)
    assert approve(record, actor=CHIEF, at=VALID, tables=TABLES).status == Status.APPROVED
    assert approve(record, actor=ADMIN, at=VALID, tables=TABLES).status == Status.APPROVED


def test_a_referral_goes_up_only() -> None:
    referred = record_in(Status.REFERRED)  # to a senior underwriter, by the rules
    with pytest.raises(uw.WorkflowError, match="already waits on 'senior_underwriter'"):
        refer(referred, authority="senior_underwriter", actor=UNDERWRITER, at=VALID, tables=TABLES)
    with pytest.raises(uw.WorkflowError, match="higher authority"):
        refer(
            record_in(Status.QUOTED),
            authority="underwriter",
            actor=UNDERWRITER,
            at=VALID,
            tables=TABLES,
        )
    with pytest.raises(uw.WorkflowError, match="not one of the authority levels"):
        refer(referred, authority="board", actor=UNDERWRITER, at=VALID, tables=TABLES)
    escalated = refer(
        referred,
        authority="chief_underwriter",
        actor=SENIOR,
        at=VALID,
        tables=TABLES,
        note="new building, survey pending",
    )
    assert escalated.referral is not None
    codes = [reason.code for reason in escalated.referral.reasons]
    assert codes[-1] == "REFERRED_BY_UNDERWRITER"
    assert "R01_TIV_ABOVE_AUTHORITY" in codes
    assert escalated.history[-1].details == {
        "authority": "chief_underwriter",
        "note": "new building, survey pending",
    }


def test_an_unknown_role_may_not_act() -> None:
    with pytest.raises(uw.AuthorityError, match="role 'auditor' may not act on quotes"):
        bind(record_in(Status.QUOTED), actor=Actor("x", "auditor"), at=VALID, tables=TABLES)


def test_the_history_runs_forward_in_time() -> None:
    record = record_in(Status.QUOTED)
    with pytest.raises(uw.UnderwritingError, match="history is in order of time"):
        bind(record, actor=UNDERWRITER, at=WHEN - dt.timedelta(seconds=1), tables=TABLES)
    with pytest.raises(uw.UnderwritingError, match="no time zone"):
        bind(record, actor=UNDERWRITER, at=VALID.replace(tzinfo=None), tables=TABLES)


def test_the_available_actions_are_those_the_table_allows() -> None:
    record = record_in(Status.REFERRED)
    assert available_actions(record, UNDERWRITER, VALID, TABLES) == (
        Action.REFER,
        Action.SUPERSEDE,
        Action.OFFER,
    )
    assert Action.APPROVE in available_actions(record, SENIOR, VALID, TABLES)
    assert available_actions(record, ACTORS[-1], VALID, TABLES) == ()


# --------------------------------------------------------------------------- state machine

RANK = {"underwriter": 0, "senior_underwriter": 1, "chief_underwriter": 2, "admin": 3}
LEVELS = ("underwriter", "senior_underwriter", "chief_underwriter")
LEGAL = {
    Action.REFER: {Status.QUOTED, Status.REFERRED},
    Action.OFFER: {Status.QUOTED, Status.REFERRED},
    Action.APPROVE: {Status.REFERRED},
    Action.DECLINE: {Status.QUOTED, Status.REFERRED},
    Action.BIND: {Status.QUOTED, Status.APPROVED},
    Action.EXPIRE: {Status.QUOTED, Status.REFERRED, Status.APPROVED},
    Action.SUPERSEDE: {
        Status.QUOTED,
        Status.REFERRED,
        Status.APPROVED,
        Status.DECLINED,
        Status.EXPIRED,
    },
}
ROLES = ("underwriter", "senior_underwriter", "chief_underwriter", "admin", "actuary", "auditor")
ANY_ROLE = st.one_of(st.sampled_from(ROLES[:3]), st.sampled_from(ROLES))
"""Underwriters half the time, so that legal sequences run long."""
REASONS = {reason.id: reason for reason in TABLES.rules.schedule_credits}
BANDS = [
    (band.min_total_adjustment, band.max_total_adjustment) for band in TABLES.rules.offer_bands
]


def _within(total: float, band: tuple[float, float]) -> bool:
    return band[0] - 1e-9 <= total <= band[1] + 1e-9


@st.composite
def credit_choices(draw: st.DrawFn) -> dict[str, float]:
    # Debits more often than credits, and often at their ends, so that totals beyond each band
    # come up as often as totals within it.
    debits = sorted(r for r in REASONS if REASONS[r].max_adjustment > 0)
    chosen = draw(
        st.lists(
            st.one_of(st.sampled_from(debits), st.sampled_from(sorted(REASONS))),
            unique=True,
            max_size=5,
        )
    )
    credits = {}
    for reason in chosen:
        low, high = REASONS[reason].min_adjustment, REASONS[reason].max_adjustment
        credits[reason] = draw(st.one_of(st.sampled_from([low, high]), st.floats(low, high)))
    return credits


class QuoteLifecycle(RuleBasedStateMachine):
    """Random actions by random roles at random times, against a model of the rules.

    The model tracks the state, the authority of the rules' and manual referrals (``base``) and
    of an offer beyond its maker's band (``by_offer``): a referral waits on the higher of the two.
    """

    def __init__(self) -> None:
        super().__init__()
        self.record = new_record()
        self.status = Status.QUOTED
        self.base: int | None = None
        self.by_offer: int | None = None
        self.now = WHEN

    @initialize(lab=st.sampled_from(["physics_low_hazard", "bsl3_biobank"]))
    def start(self, lab: str) -> None:
        self.record = new_record(lab)
        self.status = self.record.status
        authority = self.record.decision.authority_required
        self.base = None if authority is None else RANK[authority]

    def _referral(self) -> int | None:
        ranks = [r for r in (self.base, self.by_offer) if r is not None]
        return max(ranks) if ranks else None

    def _expected(self, action: Action, role: str, extra: object) -> str:
        """``ok`` or the error the rules call for, in the order they are checked."""
        if role not in RANK:
            return "authority"
        if self.status not in LEGAL[action]:
            return "state"
        past = self.now > self.record.valid_until
        if action not in (Action.EXPIRE, Action.SUPERSEDE) and past:
            return "expired"
        if action == Action.EXPIRE and not past:
            return "refused"
        needed = 0
        if action == Action.APPROVE or (
            action == Action.DECLINE and self.status == Status.REFERRED
        ):
            needed = max(1, self._referral() or 0)
        if RANK[role] < needed:
            return "authority"
        if action == Action.REFER:
            assert isinstance(extra, str)
            wanted = RANK[extra]
            if role != "admin" and wanted <= RANK[role]:
                return "refused"
            if self.status == Status.REFERRED and wanted <= (self._referral() or 0):
                return "refused"
        return "ok"

    def _update(self, action: Action, role: str, extra: object) -> None:
        if action == Action.REFER:
            assert isinstance(extra, str)
            self.base = max(self.base or 0, RANK[extra])
            self.status = Status.REFERRED
        elif action == Action.OFFER:
            assert isinstance(extra, dict)
            total = math.fsum(extra.values())
            own = BANDS[min(RANK[role], len(BANDS) - 1)]
            self.by_offer = (
                None
                if _within(total, own)
                else next(i for i, band in enumerate(BANDS) if _within(total, band))
            )
            self.status = Status.REFERRED if self._referral() is not None else Status.QUOTED
        else:
            self.status = {
                Action.APPROVE: Status.APPROVED,
                Action.DECLINE: Status.DECLINED,
                Action.BIND: Status.BOUND,
                Action.EXPIRE: Status.EXPIRED,
                Action.SUPERSEDE: Status.SUPERSEDED,
            }[action]

    def _act(self, action: Action, role: str, extra: object) -> None:
        actor = Actor(f"someone ({role})", role)
        expected = self._expected(action, role, extra)
        before = self.record
        try:
            if action == Action.REFER:
                assert isinstance(extra, str)
                after = refer(before, authority=extra, actor=actor, at=self.now, tables=TABLES)
            elif action == Action.OFFER:
                assert isinstance(extra, dict)
                after = offer(before, extra, actor=actor, at=self.now, tables=TABLES)
            elif action == Action.SUPERSEDE:
                after = supersede(before, by="q-next", actor=actor, at=self.now, tables=TABLES)
            else:
                verb: Callable[..., QuoteRecord] = {
                    Action.APPROVE: approve,
                    Action.DECLINE: decline,
                    Action.BIND: bind,
                    Action.EXPIRE: expire,
                }[action]
                after = verb(before, actor=actor, at=self.now, tables=TABLES)
        except uw.WorkflowError as error:
            refused: uw.WorkflowError | None = error
        else:
            refused = None
        if refused is not None:
            assert expected != "ok", f"{action} by {role} refused: {refused}"
            assert isinstance(refused, ERRORS[expected]), (expected, refused)
            assert self.record is before
            return
        assert expected == "ok", f"{action} by {role} at {self.now} should fail: {expected}"
        self._update(action, role, extra)
        self.record = after
        assert after.history[:-1] == before.history

    @rule(hours=st.one_of(st.integers(0, 48), st.integers(0, 24 * 40)))
    def wait(self, hours: int) -> None:
        self.now += dt.timedelta(hours=hours)

    @rule(
        action=st.sampled_from(
            [Action.APPROVE, Action.DECLINE, Action.BIND, Action.EXPIRE, Action.SUPERSEDE]
        ),
        role=ANY_ROLE,
    )
    def act(self, action: Action, role: str) -> None:
        self._act(action, role, None)

    @rule(role=ANY_ROLE, authority=st.sampled_from(LEVELS))
    def refer_to(self, role: str, authority: str) -> None:
        self._act(Action.REFER, role, authority)

    @rule(role=ANY_ROLE, credits=credit_choices())
    def offer_credits(self, role: str, credits: dict[str, float]) -> None:
        self._act(Action.OFFER, role, credits)

    @invariant()
    def the_record_is_what_the_model_says(self) -> None:
        record = self.record
        assert record.status == self.status
        referral = self._referral()
        if record.status == Status.REFERRED:
            assert record.referral is not None
            assert referral is not None
            assert RANK[record.referral.authority] == referral
        if record.status == Status.QUOTED:
            assert record.referral is None

    @invariant()
    def the_history_is_a_chain_in_time(self) -> None:
        history = self.record.history
        assert history[0].action == "create"
        assert history[0].from_status is None
        for earlier, later in itertools.pairwise(history):
            assert later.from_status == earlier.to_status
            assert later.at >= earlier.at
        assert history[-1].to_status == self.record.status

    @invariant()
    def the_offer_is_the_technical_premium_moved_by_its_credits(self) -> None:
        record = self.record
        technical = record.premium.technical
        if record.offer is not None:
            assert record.offer.total_adjustment == pytest.approx(
                sum(c.adjustment for c in record.offer.credits), abs=1e-12
            )
            settings_ = TABLES.pricing.premium
            unrounded = max(
                technical * (1 + record.offer.total_adjustment), settings_.minimum_premium
            )
            assert abs(record.offered_premium.amount - unrounded) <= settings_.rounding_unit / 2
        assert record.adequacy_ratio == record.offered_premium.amount / technical

    @precondition(lambda self: len(self.record.history) % 3 == 0)
    @invariant()
    def the_record_reads_back_from_its_json(self) -> None:
        assert record_from_dict(self.record.to_dict()) == self.record


QuoteLifecycle.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_quote_lifecycle = QuoteLifecycle.TestCase
