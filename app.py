#!/usr/bin/env python3
"""The CDK app: one operations stack per shard and one customer stack per tenant.

This is the only module that reads CDK context. Context keys:
  registry         path of the tenant registry (default config/tenants.yaml)
  lambda_platform  "aws" (arm64, Python 3.12: what AWS runs) or "host" (this
                   machine's arch and Python, for the embedded cloud's runner)
  runtime_python   path of a CPython of the runtime's version (3.12) to compile the
                   bundles' bytecode with (default: python3.12 on PATH, pyenv or uv;
                   with none, the bundles ship source only, said once on stderr)
  customer_stack_set
                   "true" adds BedrockCustomerStackSet: the customer stack as one
                   StackSet template for every tenant account (docs/SCALING.md)
  stacks           comma-separated stack names or fnmatch patterns: only those
                   stacks are synthesized (absent or empty: every stack); the
                   registry is still loaded and resolved whole, so a selected
                   stack's template is the one the full synth writes
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from contracts.registry import RegistryError, TenantRegistry, load_registry
from stacks.customer.customer_stack import CustomerStack
from stacks.customer.customer_stack_set import STACK_SET_TEMPLATE_NAME, CustomerStackSetTemplate
from stacks.operations.operations_stack import OperationsStack
from stacks.shared.lambda_bundling import LambdaPlatform, RuntimePythonError
from stacks.shared.limits import AssemblyTemplates, check_templates

PLATFORMS = {"aws": LambdaPlatform.aws_lambda, "host": LambdaPlatform.host}
_GLOB_CHARACTERS = frozenset("*?[")


class UnknownStacks(ValueError):
    """The stack filter names a stack the app does not have."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = tuple(names)
        super().__init__(", ".join(self.names))


@dataclass(frozen=True)
class StackSelection:
    """Which stacks to synthesize: names or fnmatch patterns; none means every stack."""

    patterns: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: object) -> StackSelection:
        """The ``stacks`` context value: comma-separated (or a JSON list), blanks ignored."""
        parts = value if isinstance(value, list) else str(value or "").split(",")
        return cls(tuple(str(p).strip() for p in parts if str(p).strip()))

    def selects(self, stack_name: str) -> bool:
        return not self.patterns or any(fnmatchcase(stack_name, p) for p in self.patterns)

    def unknown(self, stack_names: Iterable[str]) -> list[str]:
        """Exact names (not patterns) that are none of ``stack_names``."""
        known = set(stack_names)
        return [p for p in self.patterns if not _GLOB_CHARACTERS.intersection(p) and p not in known]


EVERY_STACK = StackSelection()


def compose(
    app: cdk.App,
    registry: TenantRegistry,
    *,
    platform: LambdaPlatform,
    customer_stack_set: bool = False,
    selection: StackSelection = EVERY_STACK,
) -> None:
    """Add the operations stacks and every tenant's customer stack to ``app``.

    With a ``selection``, only the stacks it selects; the registry is resolved
    whole all the same (shard 0's limit enforcer holds every limited tenant of
    its account), so each of them is exactly what the full app would make.
    Raises UnknownStacks for a selected name the app does not have.
    """
    operations_stacks = registry.operations_stacks()
    tenants = registry.resolved_tenants()
    # A registry with customer_stack_set rolls every customer side out by StackSet:
    # its one template, and no CDK customer stack (tenantctl stackset deploy/sync).
    customer_stack_set = customer_stack_set or registry.customer_stack_set is not None
    customer_stacks = () if registry.customer_stack_set is not None else tenants
    unknown = selection.unknown(
        [
            *(s.stack_name for s in operations_stacks),
            *(t.stack_name for t in customer_stacks),
            *([STACK_SET_TEMPLATE_NAME] if customer_stack_set else []),
        ]
    )
    if unknown:
        raise UnknownStacks(unknown)
    for stack in operations_stacks:
        if not selection.selects(stack.stack_name):
            continue
        ops = stack.operations
        where = "operations account" if ops == registry.operations else f"operations {ops.name}"
        OperationsStack(
            app,
            stack.stack_name,
            operations=ops,
            tenants=stack.tenants,
            shard=stack.shard,
            # Shard 0 holds the account's limit enforcer, for every limited tenant of it.
            limited_tenants=(
                [t for t in tenants if t.operations_account == ops.name] if stack.shard == 0 else ()
            ),
            platform=platform,
            env=cdk.Environment(account=ops.account_id, region=ops.region),
            description=(
                f"Bedrock invoker roles, one per tenant ({where})"
                if stack.shard == 0
                else f"Bedrock invoker roles, one per tenant ({where}, shard {stack.shard})"
            ),
        )
    for tenant in customer_stacks:
        if not selection.selects(tenant.stack_name):
            continue
        CustomerStack(
            app,
            tenant.stack_name,
            tenant=tenant,
            platform=platform,
            env=cdk.Environment(account=tenant.account_id, region=tenant.region),
            description=f"Bedrock invoker and usage logs of tenant {tenant.id}",
        )
    if customer_stack_set and selection.selects(STACK_SET_TEMPLATE_NAME):
        CustomerStackSetTemplate(
            app,
            STACK_SET_TEMPLATE_NAME,
            defaults=registry.defaults,
            platform=platform,
            description="Bedrock invoker and usage logs of one tenant (StackSet template)",
        )


def build_app(
    registry: TenantRegistry,
    *,
    context: dict[str, Any] | None = None,
    platform: LambdaPlatform | None = None,
    outdir: str | None = None,
    customer_stack_set: bool = False,
    selection: StackSelection = EVERY_STACK,
    cloud_formation_validation: bool = False,
) -> cdk.App:
    """An app for ``registry``; tests pass ``{"aws:cdk:bundling-stacks": []}`` to skip bundling.

    ``cloud_formation_validation`` turns aws-cdk-lib's built-in template
    validation back on (see ``new_app``).
    """
    app = new_app(
        context=context, outdir=outdir, cloud_formation_validation=cloud_formation_validation
    )
    compose(
        app,
        registry,
        platform=platform or LambdaPlatform.aws_lambda(),
        customer_stack_set=customer_stack_set,
        selection=selection,
    )
    return app


def new_app(
    *,
    context: dict[str, Any] | None = None,
    outdir: str | None = None,
    cloud_formation_validation: bool = False,
) -> cdk.App:
    """A ``cdk.App`` without aws-cdk-lib's built-in CloudFormation validation by default.

    That check runs inside ``app.synth()`` over every template and costs about a
    fifth of a large synth's time and a third of its memory. The project's own
    gates cover it: cfn-lint over every synthesized template
    (tests/infra/test_cfn_lint.py) and cdk-nag (tests/infra/test_nag.py), and
    one test still synthesizes a sample with CDK's validation on
    (tests/infra/test_app.py).
    """
    return cdk.App(
        context=context,
        outdir=outdir,
        builtin_cloud_formation_validation=cloud_formation_validation,
    )


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    app = new_app()
    registry_path = str(app.node.try_get_context("registry") or "config/tenants.yaml")
    platform_name = str(app.node.try_get_context("lambda_platform") or "aws")
    if platform_name not in PLATFORMS:
        _fail(f"context lambda_platform: must be one of {', '.join(PLATFORMS)}")
    try:
        registry = load_registry(registry_path)
    except RegistryError as exc:
        for issue in exc.issues:
            print(f"error: {registry_path}: {issue}", file=sys.stderr)
        sys.exit(2)
    stack_set = str(app.node.try_get_context("customer_stack_set") or "false").lower()
    if stack_set not in {"true", "false"}:
        _fail("context customer_stack_set: must be true or false")
    selection = StackSelection.parse(app.node.try_get_context("stacks"))
    runtime_python = app.node.try_get_context("runtime_python")
    platform = (
        LambdaPlatform.aws_lambda(runtime_python=Path(runtime_python) if runtime_python else None)
        if platform_name == "aws"
        else LambdaPlatform.host()
    )
    try:
        compose(
            app,
            registry,
            platform=platform,
            customer_stack_set=stack_set == "true",
            selection=selection,
        )
        assembly = app.synth()
    except UnknownStacks as exc:
        _fail(f"context stacks: no stack named {', '.join(repr(n) for n in exc.names)}")
    except RuntimePythonError as exc:
        _fail(f"context {exc}")  # the message names runtime_python and why
    report = check_templates(AssemblyTemplates(assembly), registry)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if report.errors:
        for error in report.errors:
            print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
