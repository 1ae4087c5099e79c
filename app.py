#!/usr/bin/env python3
"""The CDK app: one operations stack per shard and one customer stack per tenant.

This is the only module that reads CDK context. Context keys:
  registry         path of the tenant registry (default config/tenants.yaml)
  lambda_platform  "aws" (arm64, Python 3.12: what AWS runs) or "host" (this
                   machine's arch and Python, for the embedded cloud's runner)
  customer_stack_set
                   "true" adds BedrockCustomerStackSet: the customer stack as one
                   StackSet template for every tenant account (docs/SCALING.md)
"""

from __future__ import annotations

import sys
from typing import Any

import aws_cdk as cdk

from contracts.registry import RegistryError, TenantRegistry, load_registry
from stacks.customer.customer_stack import CustomerStack
from stacks.customer.customer_stack_set import STACK_SET_TEMPLATE_NAME, CustomerStackSetTemplate
from stacks.operations.operations_stack import OperationsStack
from stacks.shared.lambda_bundling import LambdaPlatform
from stacks.shared.limits import check_templates

PLATFORMS = {"aws": LambdaPlatform.aws_lambda, "host": LambdaPlatform.host}


def compose(
    app: cdk.App,
    registry: TenantRegistry,
    *,
    platform: LambdaPlatform,
    customer_stack_set: bool = False,
) -> None:
    """Add the operations stack and every tenant's customer stack to ``app``."""
    for stack in registry.operations_stacks():
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
                [t for t in registry.resolved_tenants() if t.operations_account == ops.name]
                if stack.shard == 0
                else ()
            ),
            platform=platform,
            env=cdk.Environment(account=ops.account_id, region=ops.region),
            description=(
                f"Bedrock invoker roles, one per tenant ({where})"
                if stack.shard == 0
                else f"Bedrock invoker roles, one per tenant ({where}, shard {stack.shard})"
            ),
        )
    for tenant in registry.resolved_tenants():
        CustomerStack(
            app,
            tenant.stack_name,
            tenant=tenant,
            platform=platform,
            env=cdk.Environment(account=tenant.account_id, region=tenant.region),
            description=f"Bedrock invoker and usage logs of tenant {tenant.id}",
        )
    if customer_stack_set:
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
) -> cdk.App:
    """An app for ``registry``; tests pass ``{"aws:cdk:bundling-stacks": []}`` to skip bundling."""
    app = cdk.App(context=context, outdir=outdir)
    compose(
        app,
        registry,
        platform=platform or LambdaPlatform.aws_lambda(),
        customer_stack_set=customer_stack_set,
    )
    return app


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    app = cdk.App()
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
    compose(
        app, registry, platform=PLATFORMS[platform_name](), customer_stack_set=stack_set == "true"
    )
    assembly = app.synth()
    report = check_templates({s.stack_name: s.template for s in assembly.stacks}, registry)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if report.errors:
        for error in report.errors:
            print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
