"""The CLI's view of the embedded cloud: a thin adapter over ``tenantctl.local.process``.

The background cloud (``tenantctl local up``) writes ``.local-cloud/state.json``
with its endpoint and one deployer key per account. ``--local`` commands only
need :func:`credentials`; the lifecycle commands call :func:`up`, :func:`down`,
:func:`status` and :func:`deploy`. ``tenantctl.local`` is imported lazily:
it loads moto, which costs a second on every non-local command otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tenantctl.cli.errors import CliError
from tenantctl.registry import load_registry

STATE_DIR_ENV = "TENANTCTL_LOCAL_STATE_DIR"


def state_dir() -> Path:
    """Where the background cloud keeps its state (``.local-cloud`` unless overridden)."""
    return Path(os.environ.get(STATE_DIR_ENV, ".local-cloud"))


def _not_running() -> CliError:
    return CliError("the embedded cloud is not running: run tenantctl local up")


def _running() -> Any:
    from tenantctl.local import process

    try:
        return process.RunningCloud.load(state_dir())
    except process.CloudNotRunning:
        raise _not_running() from None


def credentials(account_id: str) -> tuple[str, str, str]:
    """(endpoint URL, access key id, secret key) of an account in the running embedded cloud."""
    cloud = _running()
    if account_id not in cloud.accounts:
        raise CliError(
            f"account {account_id} is not in the embedded cloud: run tenantctl local deploy "
            "(it adds the registry's new accounts)"
        )
    creds = cloud.credentials(account_id)
    return str(cloud.endpoint_url), str(creds.access_key_id), str(creds.secret_access_key)


def status() -> dict[str, Any] | None:
    """The running cloud's state (pid, endpoint, accounts), or None."""
    from tenantctl.local import process

    return process.status(state_dir())


def up(registry_path: Path) -> dict[str, Any]:
    """Start the background cloud with every account of the registry (no-op if running)."""
    from tenantctl.local import process

    load_registry(registry_path)  # refuse an invalid registry before starting anything
    try:
        return process.up(state_dir(), registry=registry_path)
    except (RuntimeError, TimeoutError) as exc:
        raise CliError(str(exc)) from None


def down() -> bool:
    """Stop the background cloud; True if one was running."""
    from tenantctl.local import process

    return process.down(state_dir())


def missing_accounts(registry_path: Path) -> list[str]:
    """Accounts of the registry the running cloud does not have (onboarded after ``up``)."""
    registry = load_registry(registry_path)
    wanted = [registry.operations.account_id, *(t.account_id for t in registry.tenants)]
    have = _running().accounts
    return [a for a in dict.fromkeys(wanted) if a not in have]


def deploy(registry_path: Path, progress: Callable[[str], None]) -> dict[str, float]:
    """Deploy the CDK app for every registry account into the running cloud; step timings."""
    from tenantctl.local import deploy as local_deploy

    try:
        report = local_deploy.deploy_registry(_running(), registry_path, progress=progress)
    except local_deploy.DeployError as exc:
        raise CliError(str(exc)) from None
    return dict(report.timings)
