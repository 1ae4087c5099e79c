"""``tenantctl import``: onboard many tenants from a YAML or CSV file in one registry write.

The rows, their placement and their validation are :mod:`tenantctl.bulk_import`'s;
this module holds the registry's lock around reading, planning and writing, as
``onboard`` does, and reports.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from contracts.registry import Tenant, unused_override_warnings
from tenantctl.bulk_import import ImportRefused, ImportRow, plan_import, read_rows
from tenantctl.cli.app import DEFAULT_REGISTRY, State, app, say, state
from tenantctl.cli.errors import BadInput
from tenantctl.registry_file import RegistryFile, registry_lock, write_atomic


@app.command("import")
def import_tenants(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="YAML (a list of tenants, or `tenants:`) or CSV (a header row: id, "
            "account_id or account, region, and any tenant setting); by extension, else "
            "by content. See docs/registry.md.",
            exists=True,
            dir_okay=False,
        ),
    ],
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print what would be added; write nothing."),
    ] = False,
) -> None:
    """Onboard every tenant of FILE in one validated, atomic write of the registry.

    Each gets a shard and operations account as onboard would give it, and a
    generated ExternalId where the file has none. Every bad row is reported
    with its line and field, and then nothing is written (exit 2). Deploy the
    new tenants afterwards with `tenantctl deploy --all --changed`.
    """
    st = state(ctx)
    rows = _rows(file)
    with registry_lock(st.registry_path):
        doc = RegistryFile.read(st.registry_path)
        registry = doc.validated()
        try:
            plan = plan_import(registry, doc.data, rows, source=file.name)
        except ImportRefused as exc:
            raise BadInput("\n".join(exc.problems)) from None
        added = plan.registry.resolved_tenants()[len(registry.tenants) :]
        if dry_run:
            say(
                f"would add {len(added)} tenants to {st.registry_path} (--dry-run: nothing written)"
            )
            _list(added)
            return
        edit = doc.add_tenants(plan.entries)
        write_atomic(st.registry_path, edit.text, expected_current=doc.text)
    had = set(unused_override_warnings(registry))
    for warning in unused_override_warnings(plan.registry):
        if warning not in had:
            typer.echo(f"warning: {warning}", err=True)
    say(f"imported {len(added)} tenants into {st.registry_path}")
    _list(added)
    say(f"Next, deploy them (operations stacks first): {_deploy_hint(st)}")


def _rows(file: Path) -> list[ImportRow]:
    try:
        return read_rows(file)
    except ImportRefused as exc:
        raise BadInput("\n".join(exc.problems)) from None


def _list(tenants: tuple[Tenant, ...]) -> None:
    for t in tenants:
        say(
            f"  {t.id}: account {t.account_id}, {t.region}, operations "
            f"{t.operations_account}/{t.shard}, ExternalId {t.external_id}"
        )


def _deploy_hint(st: State) -> str:
    words = ["tenantctl"]
    if st.registry_path != DEFAULT_REGISTRY:
        words += ["--registry", str(st.registry_path)]
    return shlex.join([*words, "deploy", "--all", "--changed"])
