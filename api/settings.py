"""Service settings, from the environment (prefix ``UW_``; ``DATABASE_URL`` also accepted)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration of the quoting service."""

    model_config = SettingsConfigDict(env_prefix="UW_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/underwriting.db",
        validation_alias=AliasChoices("UW_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy URL; SQLite file by default, PostgreSQL for several processes",
    )
    tables_version: str | None = Field(
        default=None, description="rating tables version to serve; the newest when unset"
    )
    draft_tables: bool = Field(
        default=False,
        description="load the draft rating-table versions too (manifest status 'draft'), so "
        "that UW_TABLES_VERSION may name one: for study, their quotes carry DRAFT_TABLES",
    )
    tables_dir: Path | None = Field(
        default=None,
        description="folder of rating-table version folders; the tables shipped with the package "
        "when unset. Every version in it is loaded and validated before the service starts",
    )
    max_body_bytes: int = Field(default=1_000_000, gt=0, description="largest request body")
    max_simulation_years: int = Field(
        default=2_000_000, gt=0, description="cap on n_years of POST /v1/simulations"
    )
    max_quote_years: int | None = Field(
        default=None,
        gt=0,
        description="cap on the years one quote may simulate (tables' cap if unset)",
    )
    max_simulated_events: float = Field(
        default=50_000_000,
        gt=0,
        description="refuse (422) a simulation expected to draw more events, or a quote whose "
        "events times the sets of terms priced on them (terms, options, build-up) exceed it; "
        "sized so that a request finishes in seconds",
    )
    max_concurrent_simulations_per_principal: int = Field(
        default=2,
        gt=0,
        description="simulation requests (quotes, replays, simulations) one principal may have "
        "running at once; more are refused with 429 and Retry-After. Enforced per process: with "
        "several worker processes each enforces its own share",
    )
    max_simulations_per_minute_per_principal: int = Field(
        default=60,
        gt=0,
        description="simulation requests (quotes, replays, simulations) one principal may start "
        "in any 60 seconds; more are refused with 429 and Retry-After. Enforced per process",
    )
    sqlite_busy_timeout_ms: int = Field(default=30_000, gt=0)


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
