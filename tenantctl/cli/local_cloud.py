"""The CLI's view of the embedded cloud: a thin adapter over ``embedded_aws.process``.

The background cloud (``tenantctl local up``) writes ``.local-cloud/state.json``
and an AWS config and credentials file with a profile per account
(``embedded_aws.aws_config``). Every other command reaches it only through
those profiles and the variables :func:`environment` lists (``tenantctl local
env`` prints them), exactly as it reaches AWS; the lifecycle commands call
:func:`up`, :func:`down` and :func:`status`.

``embedded_aws`` is test infrastructure installed with the ``embedded`` extra
(moto): it is imported here lazily, so the CLI's AWS commands never load it and
work without it, and a missing extra is one clear message.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from contracts.registry import load_registry
from tenantctl.cli.errors import CliError
from tenantctl.cli.options import CDK_CONTEXT_ENV, OPS_PROFILE_ENV, TENANT_PROFILE_ENV

STATE_DIR_ENV = "TENANTCTL_LOCAL_STATE_DIR"


def state_dir() -> Path:
    """Where the background cloud keeps its state (``.local-cloud`` unless overridden)."""
    return Path(os.environ.get(STATE_DIR_ENV, ".local-cloud"))


def _not_running() -> CliError:
    return CliError("the embedded cloud is not running: run tenantctl local up")


def _process() -> Any:
    """``embedded_aws.process``, or a CliError saying how to install it."""
    try:
        from embedded_aws import process
    except ImportError as exc:
        raise CliError(
            f"the embedded cloud is not installed ({exc}): install the extra with "
            "`pip install -e '.[embedded]'` (make setup does)"
        ) from None
    return process


def _running() -> Any:
    process = _process()
    try:
        return process.RunningCloud.load(state_dir())
    except process.CloudNotRunning:
        raise _not_running() from None


def environment(account_id: str | None = None) -> dict[str, str]:
    """The variables that point the SDKs, the CDK CLI and every tenantctl command at
    the running cloud: its config files and endpoint, and the profile patterns and
    CDK context the commands take from the environment. With ``account_id``, also
    ``AWS_PROFILE`` and the region, to act as that account's deployer."""
    from embedded_aws.aws_config import PROFILE_PATTERN, profile_name

    cloud = _running()
    env = {
        **cloud.aws_config.environment(),
        OPS_PROFILE_ENV: PROFILE_PATTERN,
        TENANT_PROFILE_ENV: PROFILE_PATTERN,
        CDK_CONTEXT_ENV: " ".join(f"{k}={v}" for k, v in cloud.cdk_context.items()),
    }
    if account_id is not None:
        if account_id not in cloud.accounts:
            known = ", ".join(sorted(cloud.accounts))
            raise CliError(f"ACCOUNT_ID: no embedded account {account_id} (known: {known})")
        env.update({"AWS_PROFILE": profile_name(account_id), "AWS_REGION": str(cloud.region)})
    return env


def function_environment(function_arn: str) -> dict[str, str]:
    """A deployed function's environment and a fresh session of its execution role."""
    import urllib.error

    cloud = _running()
    try:
        return dict(cloud.function_role_session(function_arn))
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("message", exc.reason)
        raise CliError(f"--as-function: {detail}") from None


def shadowing_variables() -> tuple[str, ...]:
    """Variables to unset: each would pick other credentials than the named profile's."""
    from embedded_aws.aws_config import SHADOWING_VARIABLES

    return tuple(SHADOWING_VARIABLES)


@contextmanager
def applied(env: Mapping[str, str]) -> Iterator[None]:
    """``env`` in this process's environment for the block, as if the user had exported it."""
    saved = {name: os.environ.get(name) for name in [*env, *shadowing_variables()]}
    for name in shadowing_variables():
        os.environ.pop(name, None)
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def status() -> dict[str, Any] | None:
    """The running cloud's state (pid, endpoint, accounts), or None."""
    return _process().status(state_dir())  # type: ignore[no-any-return]


def up(registry_path: Path, *, port: int = 0) -> dict[str, Any]:
    """Start the background cloud with every account of the registry (no-op if running);
    ``port`` 0 takes a free one."""
    process = _process()
    load_registry(registry_path)  # refuse an invalid registry before starting anything
    try:
        return process.up(  # type: ignore[no-any-return]
            state_dir(), registry=registry_path, port=port
        )
    except (RuntimeError, TimeoutError) as exc:
        raise CliError(str(exc)) from None


def down() -> bool:
    """Stop the background cloud; True if one was running."""
    return bool(_process().down(state_dir()))


def missing_accounts(registry_path: Path) -> list[str]:
    """Accounts of the registry the running cloud does not have (onboarded after ``up``)."""
    registry = load_registry(registry_path)
    wanted = [
        *(ops.account_id for ops in registry.operations_accounts()),
        *(t.account_id for t in registry.tenants),
    ]
    have = _running().accounts
    return [a for a in dict.fromkeys(wanted) if a not in have]
