"""``tenantctl local``: the embedded cloud's lifecycle."""

from __future__ import annotations

import typer

from tenantctl.cli.app import app

local_app = typer.Typer(
    help="Run the embedded cloud (no AWS account needed).", no_args_is_help=True
)
app.add_typer(local_app, name="local")
