"""The ``tenantctl`` application object, global options and error reporting.

Commands live in sibling modules and register themselves on :data:`app`;
:mod:`tenantctl.cli` imports them all. A new command (``doctor``, say) is one
more module with ``@app.command()`` functions and one import there.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import typer
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from rich.console import Console
from typer import _click
from typer.core import TyperGroup

from contracts.registry import RegistryError, TenantRegistry, load_registry
from tenantctl.cli.errors import CliError
from tenantctl.registry_file import ConcurrentEditError, RegistryLockTimeout

DEFAULT_REGISTRY = Path("config/tenants.yaml")


@dataclass
class State:
    """What the global options decided, shared with every command through ``ctx.obj``."""

    registry_path: Path = DEFAULT_REGISTRY
    debug: bool = False
    # How `logs --follow` waits between polls. A caller embedding the CLI (the
    # tests) passes its own State as the context object to replace it.
    sleep: Callable[[float], None] = time.sleep
    follow_poll_seconds: float = 2.0

    def load_registry(self) -> TenantRegistry:
        """The validated registry; RegistryError is reported by the group (exit 2)."""
        return load_registry(self.registry_path)


def state(ctx: typer.Context) -> State:
    """The State of the current invocation."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, State) else State()


def out() -> Console:
    """Console for results (stdout).

    Built per call, not at import, so it follows the current stdout and
    COLUMNS (tests and pipes). Markup is off: registry paths such as
    ``tenants[2]`` and user-provided text must print literally.
    """
    return Console(markup=False, highlight=False, soft_wrap=False)


def say(message: str) -> None:
    """A plain progress or result line on stdout."""
    typer.echo(message)


def _report(message: str, code: int) -> typer.Exit:
    for line in message.splitlines() or [""]:
        typer.echo(f"error: {line}", err=True)
    return typer.Exit(code)


class _ReportingGroup(TyperGroup):
    """Turns expected failures into ``error: ...`` lines instead of tracebacks."""

    def invoke(self, ctx: _click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # typer's own exits and usage errors (exit 2)
        except Exception as exc:
            if isinstance(ctx.obj, State) and ctx.obj.debug:
                raise
            raise _translate(exc) from None


def _translate(exc: Exception) -> typer.Exit:
    if isinstance(exc, CliError):
        return _report(exc.message, exc.exit_code)
    if isinstance(exc, RegistryError):
        return _report("\n".join(str(issue) for issue in exc.issues), 2)
    if isinstance(exc, NoCredentialsError):
        return _report("no AWS credentials: pass --profile", 1)
    if isinstance(exc, EndpointConnectionError):
        return _report(f"cannot reach {exc.kwargs.get('endpoint_url', 'the endpoint')}", 1)
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return _report(f"{exc.operation_name}: {err.get('Code')}: {err.get('Message')}", 1)
    if isinstance(exc, (ConcurrentEditError, RegistryLockTimeout)):
        return _report(str(exc), 1)
    return _report(f"{type(exc).__name__}: {exc} (run with --debug for the traceback)", 1)


app = typer.Typer(
    cls=_ReportingGroup,
    name="tenantctl",
    help="Onboard tenants, invoke their Bedrock function and read their usage.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _global_options(
    ctx: typer.Context,
    registry: Annotated[
        Path,
        typer.Option(
            "--registry",
            envvar="TENANTCTL_REGISTRY",
            help="Tenant registry file.",
            dir_okay=False,
        ),
    ] = DEFAULT_REGISTRY,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    given = ctx.obj if isinstance(ctx.obj, State) else State()
    ctx.obj = replace(given, registry_path=registry, debug=debug)


# Registry writes defer Ctrl-C until the file is whole, so it is old or new.
INTERRUPTED = "error: interrupted: the registry is either as it was or fully written"


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        print(
            "error: interrupted: the registry is either as it was or fully written", file=sys.stderr
        )
        sys.exit(130)
