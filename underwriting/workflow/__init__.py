"""Workflow: a quote's life after pricing, from ``quoted`` to ``bound``, ``declined``,
``expired`` or ``superseded``.

``_states`` holds the states and the one table of transitions (which states an action leaves,
the state it enters, the authority it needs); ``_record`` the immutable quote record with its
append-only history and its JSON form; ``_actions`` the actions (refer, approve, decline, bind,
expire, supersede), each returning a new record; ``_offer`` the offered premium with schedule
credits within each authority's band; ``_revision`` revisions by JSON merge patch, priced with
the parent's seed and tables. ``_paired`` prices two requests on common random numbers;
``_renewal`` prices a renewal and decomposes its change from the expiring quote (exposure, terms,
claims experience, tables version, rate); ``_monitoring`` aggregates the book's rate change and
adequacy (docs/renewal.md); ``_stored`` reads a stored quote back and puts the offered premium
in it for the client's document. The stage sits after ``quote``: nothing below imports it.

Example
-------
>>> import datetime as dt, pathlib
>>> import underwriting as uw
>>> from underwriting.workflow import Actor, approve, offer, record_quote
>>> tables = uw.load_rating_tables("2026.3")
>>> request = uw.QuoteRequest.model_validate_json(
...     pathlib.Path("examples/physics_low_hazard.json").read_text())
>>> when = dt.datetime(2027, 1, 4, tzinfo=dt.UTC)
>>> q = uw.quote(request.submission, request.terms, tables=tables, n_years=20_000,
...              created_at=when)
>>> record = record_quote(q, request, id="q1", actor=Actor("wang", "underwriter"), tables=tables)
>>> record.status.value
'quoted'
>>> later = when + dt.timedelta(hours=1)
>>> record = offer(record, {"survey_poor_housekeeping": 0.15, "values_concentrated": 0.15},
...                actor=Actor("wang", "underwriter"), at=later, tables=tables)
>>> record.status.value, record.referral.authority, round(record.adequacy_ratio, 2)
('referred', 'senior_underwriter', 1.3)
>>> record = approve(record, actor=Actor("li", "senior_underwriter"), at=later, tables=tables)
>>> [event.action for event in record.history]
['create', 'offer', 'approve']
"""

from underwriting.workflow._actions import (
    MANUAL_REFERRAL,
    approve,
    available_actions,
    bind,
    check_action,
    decline,
    effective_status,
    expire,
    policy_period,
    refer,
    supersede,
)
from underwriting.workflow._monitoring import (
    RateGroup,
    RateMonitoring,
    RateRecord,
    monitor_rates,
)
from underwriting.workflow._offer import OFFER_BEYOND_BAND, offer, offered_amounts
from underwriting.workflow._paired import (
    PairedDifference,
    PairedQuotes,
    paired_difference,
    price_pair,
)
from underwriting.workflow._record import (
    CREATE,
    Actor,
    HistoryEvent,
    Money,
    Offer,
    QuoteRecord,
    Referral,
    ScheduleCredit,
    record_from_dict,
    record_quote,
)
from underwriting.workflow._renewal import (
    Renewal,
    RenewalStep,
    renew,
    renew_record,
    renewal_request,
    risk_adjusted_rate_change,
)
from underwriting.workflow._revision import (
    Revision,
    changed_paths,
    merge_patch,
    price_revision,
    revise,
    revision_difference,
)
from underwriting.workflow._states import (
    ADMIN,
    TRANSITIONS,
    Action,
    Status,
    Transition,
    allowed_from,
    check,
    holds,
    transition,
)
from underwriting.workflow._stored import quote_as_offered, quote_from_dict

__all__ = [
    "ADMIN",
    "CREATE",
    "MANUAL_REFERRAL",
    "OFFER_BEYOND_BAND",
    "TRANSITIONS",
    "Action",
    "Actor",
    "HistoryEvent",
    "Money",
    "Offer",
    "PairedDifference",
    "PairedQuotes",
    "QuoteRecord",
    "RateGroup",
    "RateMonitoring",
    "RateRecord",
    "Referral",
    "Renewal",
    "RenewalStep",
    "Revision",
    "ScheduleCredit",
    "Status",
    "Transition",
    "allowed_from",
    "approve",
    "available_actions",
    "bind",
    "changed_paths",
    "check",
    "check_action",
    "decline",
    "effective_status",
    "expire",
    "holds",
    "merge_patch",
    "monitor_rates",
    "offer",
    "offered_amounts",
    "paired_difference",
    "policy_period",
    "price_pair",
    "price_revision",
    "quote_as_offered",
    "quote_from_dict",
    "record_from_dict",
    "record_quote",
    "refer",
    "renew",
    "renew_record",
    "renewal_request",
    "revise",
    "revision_difference",
    "risk_adjusted_rate_change",
    "supersede",
    "transition",
]
