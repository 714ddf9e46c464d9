"""``python -m underwriting.rating rehash DIR``: rewrite a new tables version's manifest hashes.

For a table author preparing a *new* version (see ``write_manifest_hashes``); a released version
must not change.
"""

import sys
from pathlib import Path

from underwriting.rating._load import write_manifest_hashes

if __name__ == "__main__":  # pragma: no cover - a table author's helper
    if len(sys.argv) != 3 or sys.argv[1] != "rehash":
        sys.exit("usage: python -m underwriting.rating rehash DIR")
    for file_name, digest in write_manifest_hashes(Path(sys.argv[2])).items():
        print(f"{digest}  {file_name}")
