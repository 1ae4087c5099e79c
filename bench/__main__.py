"""Side-by-side latency of one Bedrock call five ways, in one run, on the embedded cloud.

1. raw boto3       ``bedrock-runtime.converse`` on assumed-role credentials
2. minimal app     a cached ``ChatBedrockConverse`` on the same client, no callback
   minimal + log   the same, then one hand-written PutLogEvents of its usage: the
                   same network work as the product, none of its safeguards
3. product         the invoker's ``BedrockInvoker.handle(event)``: event validation,
                   refreshable ops credentials, LangChain, the usage recorder and its
                   PutLogEvents into the tenant's log group
4. naive app       ``ChatBedrockConverse`` built per call (what caching avoids)

All four talk HTTP to the same local Converse endpoint, interleaved call by call
so drift on the machine hits them alike. Absolute numbers are this machine's;
the ratios are the result. The endpoint answers in about a millisecond, so the
ratios show the client-side overhead, which a real Bedrock call (hundreds of
milliseconds) dwarfs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import botocore.session
from langchain_aws import ChatBedrockConverse
from rich.console import Console
from rich.table import Table

from embedded_aws import EmbeddedCloud

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lambda" / "bedrock_invoker"))

from invoker.invocation import BedrockInvoker  # noqa: E402
from invoker.settings import Settings  # noqa: E402

OPS, TENANT, REGION = "111111111111", "222222222222", "us-east-1"
TENANT_ID = "bench"
EXTERNAL_ID = "bench-external-id"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
PROMPT = "Summarise the benefits of account-level isolation in two sentences."
LOG_GROUP = "/aws/bedrock/langchain/logs"
INVOKER_ROLE = f"arn:aws:iam::{OPS}:role/bedrock-invoker-{TENANT_ID}"
CALLER_ROLE = f"arn:aws:iam::{TENANT}:role/bedrock-caller-{TENANT_ID}"


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def provision(cloud: EmbeddedCloud) -> None:
    """The product's roles and log group, made with boto3 (a CDK deploy would add a minute)."""
    ops_iam = cloud.client("iam", OPS)
    ops_iam.create_role(
        RoleName=f"bedrock-invoker-{TENANT_ID}",
        # The same trust the operations stack deploys.
        AssumeRolePolicyDocument=_policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{TENANT}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {
                        "sts:ExternalId": EXTERNAL_ID,
                        "sts:RoleSessionName": TENANT_ID,
                    },
                    "ArnEquals": {"aws:PrincipalArn": CALLER_ROLE},
                },
            }
        ),
    )
    ops_iam.put_role_policy(
        RoleName=f"bedrock-invoker-{TENANT_ID}",
        PolicyName="ModelAccess",
        PolicyDocument=_policy(
            {
                "Effect": "Allow",
                "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                "Resource": f"arn:aws:bedrock:{REGION}::foundation-model/{MODEL}",
            }
        ),
    )
    tenant_iam = cloud.client("iam", TENANT)
    tenant_iam.create_role(
        RoleName=f"bedrock-caller-{TENANT_ID}",
        # Bench only: the deployer stands in for the Lambda service.
        AssumeRolePolicyDocument=_policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{TENANT}:root"},
                "Action": "sts:AssumeRole",
            }
        ),
    )
    tenant_iam.put_role_policy(
        RoleName=f"bedrock-caller-{TENANT_ID}",
        PolicyName="Caller",
        PolicyDocument=_policy(
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": INVOKER_ROLE},
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"arn:aws:logs:{REGION}:{TENANT}:log-group:{LOG_GROUP}:*",
            },
        ),
    )
    cloud.client("logs", TENANT).create_log_group(logGroupName=LOG_GROUP)


def caller_session(cloud: EmbeddedCloud) -> botocore.session.Session:
    """The Lambda's own credentials: a session of the tenant's caller role."""
    creds = cloud.client("sts", TENANT).assume_role(
        RoleArn=CALLER_ROLE, RoleSessionName="bench-lambda"
    )["Credentials"]
    session = botocore.session.get_session()
    session.set_credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    session.set_config_variable("region", REGION)
    return session


def ops_runtime_client(caller: botocore.session.Session) -> Any:
    """bedrock-runtime on one AssumeRole into the ops account, as a hand-written app would."""
    sts = boto3.Session(botocore_session=caller).client("sts")
    creds = sts.assume_role(
        RoleArn=INVOKER_ROLE, RoleSessionName=TENANT_ID, ExternalId=EXTERNAL_ID
    )["Credentials"]
    return boto3.client(
        "bedrock-runtime",
        region_name=REGION,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def build_variants(cloud: EmbeddedCloud) -> dict[str, Callable[[], object]]:
    caller = caller_session(cloud)
    runtime = ops_runtime_client(caller)
    minimal = ChatBedrockConverse(client=runtime, model=MODEL, region_name=REGION)
    settings = Settings.from_env(
        {
            "TENANT_ID": TENANT_ID,
            "OPS_ROLE_ARN": INVOKER_ROLE,
            "OPS_EXTERNAL_ID": EXTERNAL_ID,
            "BEDROCK_REGION": REGION,
            "USAGE_LOG_GROUP": LOG_GROUP,
            "ALLOWED_MODELS": MODEL,
            "DEFAULT_MODEL_ID": MODEL,
        }
    )
    product = BedrockInvoker.from_settings(settings, source_session=caller)
    event = {"prompt": PROMPT, "user_id": "alice", "application_id": "bench"}

    def raw_boto3() -> object:
        return runtime.converse(
            modelId=MODEL, messages=[{"role": "user", "content": [{"text": PROMPT}]}]
        )

    def minimal_app() -> object:
        return minimal.invoke(PROMPT)

    logs = boto3.Session(botocore_session=caller).client("logs")
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName="minimal-app")

    def minimal_app_with_log() -> object:
        answer = minimal.invoke(PROMPT)
        logs.put_log_events(
            logGroupName=LOG_GROUP,
            logStreamName="minimal-app",
            logEvents=[
                {
                    "timestamp": int(time.time() * 1000),
                    "message": json.dumps({"usage": answer.usage_metadata}),
                }
            ],
        )
        return answer

    def product_handler() -> object:
        result = product.handle(event)
        if "error" in result:
            raise RuntimeError(f"product call failed: {result['error']}")
        return result

    def naive_app() -> object:
        return ChatBedrockConverse(client=runtime, model=MODEL, region_name=REGION).invoke(PROMPT)

    return {
        "raw boto3 converse": raw_boto3,
        "minimal LangChain app": minimal_app,
        "minimal app + PutLogEvents": minimal_app_with_log,
        "product handler (warm)": product_handler,
        "naive app (model per call)": naive_app,
    }


def measure(variants: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Interleave the variants call by call; return each one's latencies in ms."""
    for call in variants.values():  # warm every cache and connection first
        for _ in range(3):
            call()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for i in range(rounds):
        # Rotate the order each round so no variant always runs right after another.
        for name in names[i % len(names) :] + names[: i % len(names)]:
            started = time.perf_counter()
            variants[name]()
            samples[name].append((time.perf_counter() - started) * 1000)
    return samples


def report(samples: dict[str, list[float]], console: Console) -> None:
    medians = {name: statistics.median(v) for name, v in samples.items()}
    raw = medians["raw boto3 converse"]
    minimal = medians["minimal LangChain app"]
    table = Table(title=f"One Converse call, {len(next(iter(samples.values())))} rounds")
    logged = medians["minimal app + PutLogEvents"]
    columns = ("variant", "median ms", "p90 ms", "vs raw boto3", "vs minimal app", "vs minimal+log")
    for column in columns:
        table.add_column(column, justify="left" if column == "variant" else "right")
    for name, values in samples.items():
        p90 = statistics.quantiles(values, n=10)[-1]
        table.add_row(
            name,
            f"{medians[name]:.2f}",
            f"{p90:.2f}",
            f"{medians[name] / raw:.2f}",
            f"{medians[name] / minimal:.2f}",
            f"{medians[name] / logged:.2f}",
        )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=150, help="calls per variant")
    args = parser.parse_args(argv)
    console = Console(width=120)
    with EmbeddedCloud(accounts=(OPS, TENANT), region=REGION) as cloud:
        provision(cloud)
        # Every client below, the product's included, finds the endpoint the
        # standard way, as the deployed function does.
        os.environ["AWS_ENDPOINT_URL"] = cloud.endpoint_url
        os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
        variants = build_variants(cloud)
        assume_before = len(cloud.assume_role_decisions())
        samples = measure(variants, args.rounds)
        product_calls = args.rounds + 3
        report(samples, console)
        records = sum(
            len(page["events"])
            for page in cloud.client("logs", TENANT)
            .get_paginator("filter_log_events")
            .paginate(logGroupName=LOG_GROUP, logStreamNames=["alice"])
        )
        console.print(
            f"product: {product_calls} calls, "
            f"{len(cloud.assume_role_decisions()) - assume_before} AssumeRole calls during them "
            f"(credentials are refreshable and built once), "
            f"{records} usage records in the tenant's log group"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
