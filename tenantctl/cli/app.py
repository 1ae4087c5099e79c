"""The ``tenantctl`` application object, global options and error reporting.

Commands live in sibling modules and register themselves on :data:`app`;
:mod:`tenantctl.cli` imports them all. A new command is one more module with
``@app.command()`` functions and one import there.

Every error the CLI reports is one line on stderr, ``error: <option>: <what is
wrong>`` where an option is at fault: the commands' own checks (``BadInput``),
the registry's (``RegistryError``), and the ones Typer finds while parsing (a
value that is not an integer, a choice that is not offered, a path that is a
directory), which would otherwise print Typer's boxed panel.
"""

from __future__ import annotations

import difflib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import typer
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from typer import _click
from typer.core import TyperGroup

from contracts.registry import RegistryError, TenantRegistry, load_registry
from tenantctl.cli.errors import CliError
from tenantctl.cli.options import MISSING, OPS_PROFILE, TENANT_PROFILE
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


def progress_bar() -> Progress:
    """The bar of a long run (a fleet deploy, a StackSet sync): what is running,
    how far, n of m, time so far; gone once the run's table is printed."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out(),
        transient=True,
    )


def say(message: str) -> None:
    """A plain progress or result line on stdout."""
    typer.echo(message)


def _report(message: str, code: int) -> typer.Exit:
    for line in message.splitlines() or [""]:
        typer.echo(f"error: {line}", err=True)
    return typer.Exit(code)


class _ReportingGroup(TyperGroup):
    """Turns expected failures into ``error: ...`` lines instead of tracebacks or panels."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: _click.Context | None = None,
        **extra: Any,
    ) -> _click.Context:
        # The global options (--registry) are parsed here, before invoke.
        try:
            return super().make_context(info_name, args, parent, **extra)
        except _click.exceptions.NoArgsIsHelpError:
            raise  # `tenantctl` alone prints the help
        except _click.exceptions.UsageError as exc:
            raise _report(usage_error_line(exc), exc.exit_code) from None

    def invoke(self, ctx: _click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _click.exceptions.NoArgsIsHelpError:
            raise  # `tenantctl local` alone prints its help
        except _click.exceptions.UsageError as exc:
            # A command's options are parsed here, as the command is invoked.
            raise _report(usage_error_line(exc), exc.exit_code) from None
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # typer's own exits
        except Exception as exc:
            if isinstance(ctx.obj, State) and ctx.obj.debug:
                raise
            raise _translate(exc) from None


def usage_error_line(exc: _click.exceptions.UsageError) -> str:
    """A parsing error as ``<option>: <what is wrong>``, the CLI's one-line form."""
    if isinstance(exc, _click.exceptions.BadParameter) and (exc.param or exc.param_hint):
        name = _parameter_name(exc)
        if isinstance(exc, _click.exceptions.MissingParameter):
            return f"{name}: {MISSING}"
        return f"{name}: {_sentence(exc.message)}"
    if isinstance(exc, _click.exceptions.NoSuchOption):
        close = difflib.get_close_matches(
            exc.option_name, sorted(_visible_options(exc.ctx)), n=2, cutoff=0.75
        )
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        return f"{exc.option_name}: no such option{hint}"
    if isinstance(exc, _click.exceptions.BadOptionUsage):
        # "Option '--since' requires an argument." names the option itself.
        message = exc.message.removeprefix(f"Option {exc.option_name!r} ")
        return f"{exc.option_name}: {_sentence(message)}"
    return _sentence(exc.format_message())


def _parameter_name(exc: _click.exceptions.BadParameter) -> str:
    param = exc.param
    if param is None:
        hint = exc.param_hint
        return hint if isinstance(hint, str) else " / ".join(hint or ())
    if param.param_type_name == "option":
        # The long spelling: --follow rather than -f.
        return max(param.opts, key=lambda opt: (opt.startswith("--"), len(opt)))
    return str(param.metavar or param.name or "").upper()


def _visible_options(ctx: _click.Context | None) -> set[str]:
    # Suggest only options --help shows, never a deprecated spelling.
    if ctx is None:
        return set()
    return {
        opt
        for param in ctx.command.params
        if not getattr(param, "hidden", False)
        for opt in [*param.opts, *param.secondary_opts]
    }


def _sentence(message: str) -> str:
    # Typer's messages pass through pydantic ("Value error, ...") and end in a
    # period; the CLI's lines are lower-case clauses without one.
    message = message.removeprefix("Value error, ").strip().rstrip(".")
    if message[:1].isupper() and message[1:2].islower():
        message = message[:1].lower() + message[1:]
    return message


def _translate(exc: Exception) -> typer.Exit:
    if isinstance(exc, CliError):
        return _report(exc.message, exc.exit_code)
    if isinstance(exc, RegistryError):
        return _report("\n".join(str(issue) for issue in exc.issues), 2)
    if isinstance(exc, NoCredentialsError):
        return _report(f"no AWS credentials: pass {TENANT_PROFILE} or {OPS_PROFILE}", 1)
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
    except SystemExit as exit_:
        # Typer turns Ctrl-C into Exit(130) before it gets here, so the cause tells a
        # command cut short from one that handled Ctrl-C itself (deploy says more).
        if _interrupted(exit_):
            print(INTERRUPTED, file=sys.stderr)
        raise
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)


def _interrupted(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return False
