"""`python -m socialcrm` runs the CLI."""

from socialcrm.cli import app

app()
