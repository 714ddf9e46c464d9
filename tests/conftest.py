"""Shared fixtures: the reference model ``ref`` and a richer multi-section profile."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import underwriting as uw
from underwriting.rating import write_manifest_hashes

TABLES = Path(__file__).resolve().parents[1] / "rating_tables"


def reference_profile() -> uw.RiskProfile:
    """Scenario ``ref``: Poisson(2) events of LogNormal(10, 1.5) property losses."""
    return uw.RiskProfile(
        scenarios=[
            uw.Scenario(
                id="ref",
                frequency=uw.Poisson(rate=2.0),
                severity=uw.LogNormal(mu=10.0, sigma=1.5),
                section="property",
            )
        ]
    )


def reference_terms(aggregate_limit: float | None = 1_000_000) -> uw.PolicyTerms:
    return uw.PolicyTerms(
        sections={"property": uw.SectionTerms(deductible=10_000, limit=500_000)},
        aggregate_limit=aggregate_limit,
    )


def rich_profile(frequency_multiplier: float = 1.0, severity_scale: float = 1.0) -> uw.RiskProfile:
    """Several sections, negative binomial counts, damage ratios, downtime and a cascade."""
    m, s = frequency_multiplier, severity_scale
    fire = uw.Scenario(
        id="fire",
        frequency=uw.NegativeBinomial(rate=0.8 * m, rate_cv=0.5),
        impacts=[
            uw.SectionImpact(
                section="property",
                basis="damage_ratio",
                value=5e6,
                severity=uw.LogNormal.from_median_p95(0.02, 0.4),
                severity_scale=s,
            ),
            uw.SectionImpact(
                section="research_interruption",
                basis="downtime_days",
                value=3_000.0,
                max_days=365,
                severity=uw.LogNormal.from_median_p95(20, 200),
                probability=0.7,
                factor_loading_squared=0.6,
                severity_scale=s,
            ),
            uw.SectionImpact(
                section="spoilage",
                basis="damage_ratio",
                value=1e6,
                severity=uw.LogNormal.from_median_p95(0.05, 0.8),
                probability=0.3,
                factor_loading_squared=0.0,
                severity_scale=s,
            ),
        ],
    )
    explosion = uw.Scenario(
        id="explosion",
        frequency=uw.Poisson(rate=0.3 * m),
        impacts=[
            uw.SectionImpact(
                section="property",
                severity=uw.LogNormalGPD.from_median_p95(3e5, 5e6, threshold=2e6, xi=0.5),
                severity_scale=s,
            ),
            uw.SectionImpact(
                section="employee_injury",
                severity=uw.Pareto(alpha=1.8, scale=50_000),
                probability=0.5,
                factor_loading_squared=0.5,
                severity_scale=s,
            ),
            uw.SectionImpact(
                section="liability",
                severity=uw.LogNormal.from_median_p95(1e5, 2e6),
                probability=0.2,
                factor_loading_squared=0.3,
                severity_scale=s,
            ),
        ],
    )
    injury = uw.Scenario(
        id="injury",
        frequency=uw.Poisson(rate=1.0 * m),
        impacts=[
            uw.SectionImpact(
                section="employee_injury",
                severity=uw.Gamma(shape=0.8, scale=20_000),
                severity_scale=s,
            )
        ],
    )
    return uw.RiskProfile(
        scenarios=[fire, explosion, injury],
        cascades=[uw.Cascade(parent="explosion", child="fire", probability=0.4)],
        value_at_risk={"property": 5e6, "spoilage": 1e6, "research_interruption": 3_000.0 * 365},
    )


def rich_terms(**changes: float) -> uw.PolicyTerms:
    """Terms exercising every step; ``changes`` overrides named numbers."""
    c = {
        "property_deductible": 10_000.0,
        "property_limit": 3e6,
        "property_aggregate_limit": 4e6,
        "waiting_period_days": 2.0,
        "indemnity_period_months": 6.0,
        "spoilage_percent": 0.1,
        "injury_limit": 1e6,
        "aggregate_deductible": 5_000.0,
        "aggregate_limit": 6e6,
        "share": 0.8,
        **changes,
    }
    return uw.PolicyTerms(
        sections={
            "property": uw.SectionTerms(
                deductible=c["property_deductible"],
                limit=c["property_limit"],
                aggregate_limit=c["property_aggregate_limit"],
            ),
            "research_interruption": uw.SectionTerms(
                waiting_period_days=c["waiting_period_days"],
                indemnity_period_months=c["indemnity_period_months"],
            ),
            "spoilage": uw.SectionTerms(
                deductible_percent_of_loss=c["spoilage_percent"],
                deductible_minimum=5_000,
                deductible_maximum=50_000,
            ),
            "employee_injury": uw.SectionTerms(limit=c["injury_limit"]),
            "liability": uw.SectionTerms(deductible=2_000, limit=5e6),
        },
        aggregate_deductible=c["aggregate_deductible"],
        aggregate_limit=c["aggregate_limit"],
        share=c["share"],
    )


@pytest.fixture
def ref_profile() -> uw.RiskProfile:
    return reference_profile()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden quote files in tests/golden/ instead of comparing with them",
    )


@pytest.fixture(scope="session", autouse=True)
def compiled_kernel() -> None:
    """Compile the simulation kernel once (or load it from numba's cache) before any test.

    A server compiles it at start-up (``uw.warm_up()``): on a fresh clone that is 10-25 s of
    compiling, which would otherwise fall inside the readiness deadline of whichever test starts
    the first server. Once compiled here, every server loads it from the cache.
    """
    uw.warm_up()


@pytest.fixture
def draft_root(tmp_path: Path) -> Path:
    """A tables root holding the released versions and a draft, "2099.1", dated after all of them:
    a copy of the newest release with ``status = "draft"``."""
    for version in uw.available_versions():
        shutil.copytree(TABLES / version, tmp_path / version)
    newest = uw.available_versions()[-1]
    draft = tmp_path / "2099.1"
    shutil.copytree(TABLES / newest, draft)
    manifest = draft / "manifest.toml"
    text = manifest.read_text(encoding="utf-8")
    text = text.replace(f'version = "{newest}"', 'version = "2099.1"')
    text = re.sub(r"(?m)^effective_date = .*$", "effective_date = 2099-01-01", text)
    text = re.sub(r"(?m)^status = .*\n", "", text)
    text = text.replace("[files]", 'status = "draft"\n\n[files]', 1)
    manifest.write_text(text, encoding="utf-8")
    write_manifest_hashes(draft)
    return tmp_path
