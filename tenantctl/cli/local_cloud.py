"""The CLI's view of the embedded cloud: a thin adapter over ``tenantctl.local``."""

from __future__ import annotations

from tenantctl.cli.errors import CliError


def credentials(account_id: str) -> tuple[str, str, str]:
    """(endpoint URL, access key id, secret key) of an account in the running embedded cloud."""
    raise CliError("the embedded cloud is not available yet")
