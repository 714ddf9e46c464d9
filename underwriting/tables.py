"""The rating tables' former module path, kept while docs/actuary-guide.md names it.

``from underwriting.tables import write_manifest_hashes`` and ``python -m underwriting.tables
rehash DIR`` still work; both live in :mod:`underwriting.rating` (``python -m underwriting.rating
rehash DIR``), where new code should take them from.
"""

import runpy

from underwriting.rating import write_manifest_hashes

__all__ = ["write_manifest_hashes"]

if __name__ == "__main__":  # pragma: no cover - a table author's helper
    runpy.run_module("underwriting.rating", run_name="__main__", alter_sys=True)
