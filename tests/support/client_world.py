"""A tenant for the client library on the embedded cloud, made with boto3 in a second.

What the two stacks deploy for a tenant with a ``workload_role`` (the invoker role
trusting the workload role with the ExternalId and session-name pins, the
workload role, the usage log group), without a CDK deploy: the library's tests,
its examples and ``make bench`` need the roles, not the function. The deployed
stacks themselves are tested in ``tests/e2e/test_workload_role.py``.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import boto3

from contracts import naming
from embedded_aws import EmbeddedCloud

OPS, TENANT, OTHER_TENANT, REGION = "111111111111", "222222222222", "333333333333", "us-east-1"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
OTHER_MODEL = "amazon.nova-micro-v1:0"
LOG_GROUP = "/aws/bedrock/langchain/logs"


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@dataclass(frozen=True)
class ClientTenant:
    """One provisioned tenant: its id, account, roles and the settings a workload reads."""

    tenant_id: str
    account: str
    external_id: str
    invoker_role_arn: str
    workload_role_arn: str

    def settings_variables(self, **overrides: str) -> dict[str, str]:
        """The function's environment contract for this tenant (what the SSM parameter holds)."""
        return {
            "TENANT_ID": self.tenant_id,
            "OPS_ROLE_ARN": self.invoker_role_arn,
            "OPS_EXTERNAL_ID": self.external_id,
            "BEDROCK_REGION": REGION,
            "USAGE_LOG_GROUP": LOG_GROUP,
            "DEFAULT_MODEL_ID": MODEL,
            "ALLOWED_MODELS": f"{MODEL},{OTHER_MODEL}",
            **overrides,
        }


def provision_tenant(
    cloud: EmbeddedCloud, tenant_id: str, account: str, *, principals: tuple[str, ...] = ()
) -> ClientTenant:
    """The tenant's invoker role (operations account), workload role and usage log group.

    ``principals``: who may assume the workload role besides the account's
    deployer (pinned by ``aws:PrincipalArn``, as the customer stack does).
    """
    external_id = f"{tenant_id}-external-id"
    invoker_role = naming.invoker_role_arn(OPS, tenant_id, region=REGION)
    workload_role = naming.workload_role_arn(account, tenant_id, region=REGION)
    deployer = cloud.credentials(account).user_arn
    cloud.client("iam", OPS).create_role(
        RoleName=naming.invoker_role_name(tenant_id),
        AssumeRolePolicyDocument=_policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {
                        "sts:ExternalId": external_id,
                        "sts:RoleSessionName": tenant_id,
                    },
                    "ArnEquals": {"aws:PrincipalArn": workload_role},
                },
            }
        ),
    )
    cloud.client("iam", OPS).put_role_policy(
        RoleName=naming.invoker_role_name(tenant_id),
        PolicyName="ModelAccess",
        PolicyDocument=_policy(
            {
                "Effect": "Allow",
                "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                "Resource": [
                    f"arn:aws:bedrock:{REGION}::foundation-model/{MODEL}",
                    f"arn:aws:bedrock:{REGION}::foundation-model/{OTHER_MODEL}",
                ],
            }
        ),
    )
    iam = cloud.client("iam", account)
    iam.create_role(
        RoleName=naming.workload_role_name(tenant_id),
        AssumeRolePolicyDocument=_policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"ArnEquals": {"aws:PrincipalArn": [deployer, *principals]}},
            }
        ),
    )
    iam.put_role_policy(
        RoleName=naming.workload_role_name(tenant_id),
        PolicyName="Workload",
        PolicyDocument=_policy(
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": invoker_role},
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"arn:aws:logs:{REGION}:{account}:log-group:{LOG_GROUP}:*",
            },
            {
                "Effect": "Allow",
                "Action": "ssm:GetParameter",
                "Resource": naming.client_settings_parameter_arn(account, tenant_id, region=REGION),
            },
        ),
    )
    logs = cloud.client("logs", account)
    if not logs.describe_log_groups(logGroupNamePrefix=LOG_GROUP)["logGroups"]:
        logs.create_log_group(logGroupName=LOG_GROUP)
    tenant = ClientTenant(tenant_id, account, external_id, invoker_role, workload_role)
    cloud.client("ssm", account).put_parameter(
        Name=naming.client_settings_parameter_name(tenant_id),
        Type="String",
        Value=json.dumps(tenant.settings_variables()),
        Overwrite=True,
    )
    return tenant


def deployer_session(cloud: EmbeddedCloud, account: str) -> boto3.Session:
    """The account deployer's session (the workload's own credentials in the tests)."""
    return cloud.session(account, REGION)


def usage_records(cloud: EmbeddedCloud, account: str) -> list[dict[str, Any]]:
    """Every usage record in ``account``'s usage log group, oldest first."""
    logs = cloud.client("logs", account)
    if not logs.describe_log_groups(logGroupNamePrefix=LOG_GROUP)["logGroups"]:
        return []
    records: list[dict[str, Any]] = []
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=LOG_GROUP):
        records += [json.loads(event["message"]) for event in page["events"]]
    return sorted(records, key=lambda record: str(record.get("timestamp")))


@contextmanager
def embedded_endpoint(cloud: EmbeddedCloud) -> Iterator[None]:
    """This process's AWS clients reach the embedded cloud, as ``tenantctl local env`` sets."""
    before = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = cloud.endpoint_url
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = before


class LogsOutage:
    """A relay to the embedded endpoint that can drop every connection: CloudWatch Logs
    unreachable as a client sees it (connections closed), then back.

    Point a workload's logs client at ``endpoint_url`` (``AWS_ENDPOINT_URL_CLOUDWATCH_LOGS``).
    """

    def __init__(self, target_url: str) -> None:
        host, port = target_url.removeprefix("http://").split(":")
        self._target = (host, int(port.rstrip("/")))
        self.down = False
        relay = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                if relay.down:
                    return  # closed without a byte: the client sees the connection drop
                with socket.create_connection(relay._target) as upstream:
                    relay._pipe(self.request, upstream)

        self._server = socketserver.ThreadingTCPServer(("localhost", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint_url = f"http://localhost:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @staticmethod
    def _pipe(client: socket.socket, upstream: socket.socket) -> None:
        def forward(source: socket.socket, sink: socket.socket) -> None:
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                with suppress(OSError):
                    sink.shutdown(socket.SHUT_WR)

        back = threading.Thread(target=forward, args=(upstream, client), daemon=True)
        back.start()
        forward(client, upstream)
        back.join()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
