"""``python -m api``: the same as ``underwriting serve``."""

from api.cli import app

app(prog_name="python -m api")
