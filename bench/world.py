"""The bench's world: the embedded cloud's roles and log group, and the bench processes.

Shared by ``make bench`` (``bench.__main__``) and ``python -m bench.profile_init``.
The tenant has the function's roles (its caller role) and a workload role for the
client library (``bench/client_process.py``), both admitted by its invoker role.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from contracts import naming
from contracts.function_environment import FunctionEnvironment
from contracts.model_output_limits import default_max_tokens
from embedded_aws import EmbeddedCloud

PROCESS_SCRIPT = Path(__file__).resolve().parent / "lambda_process.py"
CLIENT_SCRIPT = Path(__file__).resolve().parent / "client_process.py"

OPS, TENANT, REGION = "111111111111", "222222222222", "us-east-1"
TENANT_ID = "bench"
EXTERNAL_ID = "bench-external-id"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
PROMPT = "Summarise the benefits of account-level isolation in two sentences."
EVENT = {"prompt": PROMPT, "user_id": "alice", "application_id": "bench"}
LOG_GROUP = "/aws/bedrock/langchain/logs"
INVOKER_ROLE = f"arn:aws:iam::{OPS}:role/bedrock-invoker-{TENANT_ID}"
CALLER_ROLE = f"arn:aws:iam::{TENANT}:role/bedrock-caller-{TENANT_ID}"
WORKLOAD_ROLE = naming.workload_role_arn(TENANT, TENANT_ID, region=REGION)


def function_configuration(sink: str = "api") -> dict[str, str]:
    """The function's configuration, as stacks/customer/invoker_function.py sets it: the
    environment contract the client library reads as its settings too."""
    return {
        "TENANT_ID": TENANT_ID,
        "OPS_ROLE_ARN": INVOKER_ROLE,
        "OPS_EXTERNAL_ID": EXTERNAL_ID,
        "BEDROCK_REGION": REGION,
        "USAGE_LOG_GROUP": LOG_GROUP,
        "ALLOWED_MODELS": MODEL,
        "DEFAULT_MODEL_ID": MODEL,
        "USAGE_SINK": sink,
    }


def converse_request() -> dict[str, Any]:
    """The Converse request the function sends for ``EVENT``, for the raw side to send too.

    The function's call goes through ``ChatBedrockConverse``, which sends an empty
    system list, and names the tenant's ``maxTokens`` and first service tier. The
    emulator derives its answer from the whole request: a raw request without these
    would get another answer, of another length, and time a different call.
    ``lambda_process.py`` checks that every side's answer has the same token count.
    """
    settings = FunctionEnvironment.from_env(function_configuration())
    return {
        "modelId": MODEL,
        "messages": [{"role": "user", "content": [{"text": PROMPT}]}],
        "system": [],
        "inferenceConfig": {"maxTokens": default_max_tokens(MODEL, cap=settings.max_tokens)},
        "serviceTier": {"type": settings.service_tiers[0].value},
    }


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
                    # The function's role and the client library's workload role.
                    "ArnEquals": {"aws:PrincipalArn": [CALLER_ROLE, WORKLOAD_ROLE]},
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
    writes_usage = {
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": f"arn:aws:logs:{REGION}:{TENANT}:log-group:{LOG_GROUP}:*",
    }
    tenant_iam.put_role_policy(
        RoleName=f"bedrock-caller-{TENANT_ID}",
        PolicyName="Caller",
        PolicyDocument=_policy(
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": INVOKER_ROLE},
            writes_usage,
        ),
    )
    tenant_iam.create_role(
        RoleName=naming.workload_role_name(TENANT_ID),
        # As the customer stack's workload role: its listed principals, here the deployer.
        AssumeRolePolicyDocument=_policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{TENANT}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "ArnEquals": {"aws:PrincipalArn": cloud.credentials(TENANT).user_arn}
                },
            }
        ),
    )
    tenant_iam.put_role_policy(
        RoleName=naming.workload_role_name(TENANT_ID),
        PolicyName="Workload",
        PolicyDocument=_policy(
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": INVOKER_ROLE},
            writes_usage,
        ),
    )
    cloud.client("logs", TENANT).create_log_group(logGroupName=LOG_GROUP)


@dataclass(frozen=True)
class Sessions:
    """Credentials the bench processes run with."""

    caller: Mapping[str, str]  # the Lambda's own: a session of the tenant's caller role
    ops: Mapping[str, str]  # the operations role, assumed once (the raw boto3 baseline)


def sessions(cloud: EmbeddedCloud) -> Sessions:
    caller = cloud.client("sts", TENANT).assume_role(
        RoleArn=CALLER_ROLE, RoleSessionName="bench-lambda"
    )["Credentials"]
    ops = boto3.client(
        "sts",
        endpoint_url=cloud.endpoint_url,
        region_name=REGION,
        aws_access_key_id=caller["AccessKeyId"],
        aws_secret_access_key=caller["SecretAccessKey"],
        aws_session_token=caller["SessionToken"],
    ).assume_role(RoleArn=INVOKER_ROLE, RoleSessionName=TENANT_ID, ExternalId=EXTERNAL_ID)[
        "Credentials"
    ]
    keys = ("AccessKeyId", "SecretAccessKey", "SessionToken")
    return Sessions({k: caller[k] for k in keys}, {k: ops[k] for k in keys})


# The cold processes without the function: boto3 alone and the minimal LangChain app.
BASELINE_MODES = frozenset({"cold-boto3", "cold-langchain"})


class BenchProcess:
    """Starts ``lambda_process.py`` in a fresh interpreter with a Lambda-like environment."""

    def __init__(self, cloud: EmbeddedCloud, package: Path, creds: Sessions) -> None:
        self._cloud = cloud
        self._package = package
        self._creds = creds

    def _env(self, credentials: Mapping[str, str], sink: str) -> dict[str, str]:
        return {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "HOME": tempfile.gettempdir(),
            "AWS_ENDPOINT_URL": self._cloud.endpoint_url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"],
            # The host's profiles must not leak in.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_LAMBDA_FUNCTION_NAME": "bedrock-invoker-bench",
            **function_configuration(sink),
            "POWERTOOLS_SERVICE_NAME": "bedrock-invoker",
        }

    def run(
        self,
        mode: str,
        *,
        sink: str = "api",
        config: Mapping[str, Any] | None = None,
        stdout: Any = subprocess.DEVNULL,
        flags: Sequence[str] = (),
    ) -> tuple[float, dict[str, Any]]:
        """Run one process; (seconds from start to its report, the report's value).

        ``-B``: no bytecode is written, as on Lambda, whose read-only /var/task keeps
        no ``__pycache__`` beyond the one the package ships: whatever the package
        has no bytecode for is compiled from source in every process.
        ``report["stderr"]`` holds everything else the process wrote to stderr.
        """
        # The baselines call Bedrock directly, on the operations role; the function
        # assumes it from its own (caller) role.
        credentials = self._creds.ops if mode in BASELINE_MODES else self._creds.caller
        settings = {
            "model": MODEL,
            "event": EVENT,
            "request": converse_request(),
            "log_group": LOG_GROUP,
            "raw_credentials": dict(self._creds.ops),
            **(config or {}),
        }
        argv = [
            sys.executable,
            "-B",
            "-I",
            "-S",
            *flags,
            str(PROCESS_SCRIPT),
            mode,
            str(self._package),
        ]
        started = time.perf_counter()
        with subprocess.Popen(
            [*argv, json.dumps(settings)],
            env=self._env(credentials, sink),
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            assert process.stderr is not None
            lines: list[str] = []
            for line in process.stderr:
                kind, _, value = line.partition(" ")
                if kind in {"ANSWERED", "DONE", "RESULT"}:
                    elapsed = time.perf_counter() - started
                    process.wait(timeout=60)
                    return elapsed, {"value": json.loads(value), "stderr": "".join(lines)}
                lines.append(line)
            process.wait(timeout=60)
        raise RuntimeError(f"bench process {mode} ({sink}) failed:\n{''.join(lines[-30:])}")


def run_client_process(cloud: EmbeddedCloud, config: Mapping[str, Any]) -> dict[str, Any]:
    """Run ``client_process.py`` in a fresh interpreter of this virtualenv, where the client
    library is installed as a workload would install it, on the tenant deployer's own
    credentials; its report (the JSON object it prints last).

    ``-I``: nothing of the project's tree but the installed packages; ``config`` as
    ``client_process.py`` documents it (the function's configuration is added here).
    """
    deployer = cloud.credentials(TENANT)
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "HOME": tempfile.gettempdir(),
        "AWS_ENDPOINT_URL": cloud.endpoint_url,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": deployer.access_key_id,
        "AWS_SECRET_ACCESS_KEY": deployer.secret_access_key,
        # The host's profiles must not leak in.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    settings = {
        "settings": function_configuration(),
        "workload_role_arn": WORKLOAD_ROLE,
        "prompt": PROMPT,
        **config,
    }
    process = subprocess.run(
        [sys.executable, "-I", str(CLIENT_SCRIPT), json.dumps(settings)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if process.returncode != 0:
        raise RuntimeError(f"client bench process failed:\n{process.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(process.stdout.strip().splitlines()[-1])
    return report
