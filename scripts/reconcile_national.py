"""Print the serious events a year that a tables version implies over its national book.

Usage: ``.venv/bin/python scripts/reconcile_national.py [VERSION ...]`` (default: every version
with a ``[calibration]``). The method and the figures are in docs/pricing.md, "Calibration".
"""

from __future__ import annotations

import sys

from underwriting.portfolio import reconcile_serious_events
from underwriting.rating import available_versions, load_rating_tables


def main(versions: list[str]) -> int:
    for version in versions or list(available_versions(drafts=True)):
        tables = load_rating_tables(version)
        if tables.pricing.calibration is None:
            continue
        result = reconcile_serious_events(tables)
        print(f"tables {version}: serious events a year over the national book")
        print(f"  {'lab type':<62} {'labs':>7} {'per lab-year':>13} {'a year':>8}")
        for row in result.rows:
            per_lab = sum(row.per_lab.values())
            print(f"  {row.note[:62]:<62} {row.count:>7,} {per_lab:>13.6f} {row.per_year:>8.1f}")
            for scenario, rate in row.per_lab.items():
                print(f"    {scenario:<60} {'':>7} {rate:>13.6f} {rate * row.count:>8.1f}")
        print(f"  implied by the tables: {result.implied:.1f} a year")
        print(
            f"  public count {result.public_per_year} x under-reporting "
            f"{result.under_reporting_factor} = {result.expected_actual:.1f} a year"
        )
        print(
            f"  departure {result.departure:.2f}x (allowed {result.max_departure}x): "
            f"{'within' if result.within else 'OUTSIDE'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
