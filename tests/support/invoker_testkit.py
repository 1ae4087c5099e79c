"""Test kit for the invoker Lambda: two moto accounts, Converse and the handler as Lambda loads it.

The function's environment is ``conftest.py``'s (fixtures ``invoker_env`` and
``set_function_env``); the names and ids it holds are this module's constants.

The function's folder is put on ``sys.path`` so ``import invoker`` works as in
Lambda. ``handler.py`` is loaded by path under a unique module name, fresh for
each test (a new container), so it never collides with another function's
``handler`` module.

Accounts in moto (in-process ``mock_aws``) follow the access key of a request:
- the tenant's "own" credentials are an IAM user's access key created in the
  tenant account (the setup calls carry the ``x-moto-account-id`` header, which
  moto honours for that request only; ``MOTO_ACCOUNT_ID`` is never set);
- credentials returned by ``sts:AssumeRole`` act in the role's account, here the
  operations account.
So a record written with the wrong credentials would land in the wrong account
and the tests would see it.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import botocore.handlers
import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws
from moto.iam.models import get_account_id_from
from werkzeug.wrappers import Request

from contracts.model_access import default_profile_regions, model_grants
from embedded_aws.bedrock import BedrockCall, BedrockEmulator
from embedded_aws.cloud import NoDelayServer

INVOKER_DIR = Path(__file__).resolve().parents[2] / "lambda" / "bedrock_invoker"
# Appended, not prepended: only the uniquely named ``invoker`` package is wanted from
# here, and this must not shadow another function's ``handler`` module.
if str(INVOKER_DIR) not in sys.path:
    sys.path.append(str(INVOKER_DIR))

OPS_ACCOUNT = "111111111111"
TENANT_ACCOUNT = "222222222222"
REGION = "us-east-1"
TENANT_ID = "acme"
EXTERNAL_ID = "acme-5f0c2a9e8b7d4c1e"
OPS_ROLE_ARN = f"arn:aws:iam::{OPS_ACCOUNT}:role/bedrock-invoker-{TENANT_ID}"
LOG_GROUP = "/aws/bedrock/langchain/logs"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
US_HAIKU = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
NOT_ALLOWED_MODEL = "anthropic.claude-3-opus-20240229-v1:0"

# --- Converse: the embedded cloud's emulator ----------------------------------------


@dataclass
class ConverseStub:
    """The embedded cloud's Bedrock emulator on a local port, with a scripted answer.

    It is the same emulator ``make demo`` runs: each call is attributed to the
    account owning the signing access key (looked up in moto) and checked against
    the caller's identity policy on the model ARN. The answer is pinned to
    "Bonjour !" and 12/7/19 tokens so the tests can assert exact records.
    """

    endpoint_url: str
    emulator: BedrockEmulator

    @property
    def calls(self) -> list[BedrockCall]:
        """Every call the emulator answered, oldest first."""
        return self.emulator.calls()

    def fail(self, code: str, count: int = 1) -> None:
        """Answer the next ``count`` calls with Bedrock's error ``code``."""
        self.emulator.fail(code, count=count)

    def always_fail(self, code: str) -> None:
        """Answer every call with Bedrock's error ``code``."""
        self.emulator.fail(code, count=10**9)

    def hold_answers(self, until: threading.Event) -> None:
        """Answer only once ``until`` is set: a model still working."""
        self.emulator.hold_answers(until)

    def answer_with(self, text: str) -> None:
        """Answer with ``text`` (same token counts)."""
        self.emulator.script_answer(text, SCRIPTED_USAGE, latency_ms=SCRIPTED_LATENCY_MS)


SCRIPTED_ANSWER = "Bonjour !"
SCRIPTED_USAGE = {"inputTokens": 12, "outputTokens": 7, "totalTokens": 19}
SCRIPTED_LATENCY_MS = 321


@contextmanager
def running_converse_stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConverseStub]:
    """The emulator on localhost; boto3 finds it via AWS_ENDPOINT_URL_BEDROCK_RUNTIME."""
    emulator = BedrockEmulator()
    emulator.script_answer(SCRIPTED_ANSWER, SCRIPTED_USAGE, latency_ms=SCRIPTED_LATENCY_MS)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        return emulator.handle(Request(environ))(environ, start_response)

    server = NoDelayServer("localhost", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stub = ConverseStub(f"http://localhost:{server.server_port}", emulator)
    # The standard variable botocore honours by itself; no code path knows about it.
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", stub.endpoint_url)
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- AWS API call recorder -----------------------------------------------------------


class ApiCalls:
    """Counts every AWS API call (``before-call``) and HTTP attempt (``before-send``)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        self.last_params: dict[str, dict[str, Any]] = {}

    def on_call(self, event_name: str, **kwargs: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        self.calls[f"{service}:{operation}"] += 1

    def on_params(self, event_name: str, params: Any = None, **kwargs: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        self.last_params[f"{service}:{operation}"] = dict(params or {})

    def on_send(self, event_name: str, **kwargs: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        self.attempts[f"{service}:{operation}"] += 1

    def count(self, service_prefix: str) -> int:
        return sum(n for key, n in self.calls.items() if key.startswith(service_prefix))

    def reset(self) -> None:
        self.calls.clear()
        self.attempts.clear()


def record_api_calls(monkeypatch: pytest.MonkeyPatch) -> ApiCalls:
    """Record the calls of every botocore session created after this fixture runs."""
    recorder = ApiCalls()
    handlers = list(botocore.handlers.BUILTIN_HANDLERS)
    # Prepended so it runs before moto's own before-send hook answers the request.
    handlers[:0] = [
        ("before-parameter-build.*.*", recorder.on_params),
        ("before-call.*.*", recorder.on_call),
        ("before-send.*.*", recorder.on_send),
    ]
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", handlers)
    return recorder


def signal_provisional_records(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """An event set once a provisional usage record has been written (or printed).

    Gate the Converse stub on it to have the model answer only after the timeout
    watchdog's record is out: the race of finding 1, made deterministic.
    """
    from bedrock_tenant_client.usage.writer import UsageLogWriter

    written = threading.Event()
    original = UsageLogWriter.write

    def write(self: UsageLogWriter, record: dict[str, Any], **options: Any) -> Any:
        delivery = original(self, record, **options)
        if record.get("provisional"):
            written.set()
        return delivery

    monkeypatch.setattr(UsageLogWriter, "write", write)
    return written


def fail_operation(monkeypatch: pytest.MonkeyPatch, service: str, operation: str) -> None:
    """Make every attempt of ``service:operation`` fail to connect (an outage).

    Raised in ``before-send`` ahead of moto's own hook, so moto never sees the
    request; botocore retries it as a connection error, then gives up.
    """

    def unreachable(request: Any, **kwargs: Any) -> None:
        raise EndpointConnectionError(endpoint_url=request.url)

    handlers = list(botocore.handlers.BUILTIN_HANDLERS)
    handlers.insert(0, (f"before-send.{service}.{operation}", unreachable))
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", handlers)


# --- Two accounts in moto --------------------------------------------------------------


@dataclass
class Accounts:
    """The moto world: who is who, and clients to look around in each account."""

    tenant_access_key_id: str
    tenant_logs: Any
    ops_logs: Any

    def usage_records(self) -> list[dict[str, Any]]:
        """Every usage record in the tenant's log group, oldest first."""
        records: list[dict[str, Any]] = []
        streams = self.tenant_logs.describe_log_streams(logGroupName=LOG_GROUP)["logStreams"]
        for stream in streams:
            events = self.tenant_logs.get_log_events(
                logGroupName=LOG_GROUP, logStreamName=stream["logStreamName"]
            )["events"]
            records += [
                {**json.loads(e["message"]), "_stream": stream["logStreamName"]} for e in events
            ]
        return records


def _in_account(client: Any, account_id: str) -> Any:
    def add_header(request: Any, **kwargs: Any) -> None:
        request.headers["x-moto-account-id"] = account_id

    client.meta.events.register("before-sign", add_header)
    return client


@contextmanager
def two_accounts(monkeypatch: pytest.MonkeyPatch) -> Iterator[Accounts]:
    """Tenant and operations accounts; the process runs as the tenant (the Lambda's role)."""
    with mock_aws():
        tenant_iam = _in_account(boto3.client("iam", region_name=REGION), TENANT_ACCOUNT)
        tenant_iam.create_user(UserName="bedrock-invoker-lambda")
        key = tenant_iam.create_access_key(UserName="bedrock-invoker-lambda")["AccessKey"]

        ops_iam = _in_account(boto3.client("iam", region_name=REGION), OPS_ACCOUNT)
        ops_iam.create_role(
            RoleName=f"bedrock-invoker-{TENANT_ID}",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{TENANT_ACCOUNT}:root"},
                            "Action": "sts:AssumeRole",
                            "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}},
                        }
                    ],
                }
            ),
        )
        ops_iam.put_role_policy(
            RoleName=f"bedrock-invoker-{TENANT_ID}",
            PolicyName="ModelAccess",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": grant.sid,
                            "Effect": "Allow",
                            "Action": list(grant.actions),
                            "Resource": list(grant.resources),
                            **({"Condition": grant.conditions} if grant.conditions else {}),
                        }
                        for grant in model_grants(
                            [HAIKU, US_HAIKU],
                            partition="aws",
                            region=REGION,
                            account=OPS_ACCOUNT,
                            profile_regions=default_profile_regions(),
                        )
                    ],
                }
            ),
        )

        # From here on the process's own credentials are the tenant's, as in Lambda.
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        assert get_account_id_from(key["AccessKeyId"]) == TENANT_ACCOUNT

        # A new session: boto3's default one would keep the credentials it saw first.
        tenant_session = boto3.Session(region_name=REGION)
        tenant_logs = tenant_session.client("logs")
        tenant_logs.create_log_group(logGroupName=LOG_GROUP)  # the CDK stack's UsageLogGroup

        ops_creds = tenant_session.client("sts").assume_role(
            RoleArn=OPS_ROLE_ARN, RoleSessionName="test-observer", ExternalId=EXTERNAL_ID
        )["Credentials"]
        ops_logs = boto3.client(
            "logs",
            region_name=REGION,
            aws_access_key_id=ops_creds["AccessKeyId"],
            aws_secret_access_key=ops_creds["SecretAccessKey"],
            aws_session_token=ops_creds["SessionToken"],
        )
        yield Accounts(key["AccessKeyId"], tenant_logs, ops_logs)


class NoCredentialCache(dict[str, Any]):
    """A credential-fetcher cache that never hits.

    botocore's fetcher checks its cached entries against the wall clock, which a
    moved ``MovableClock`` would contradict; the refreshable credentials already
    hold the current set.
    """

    def __contains__(self, key: object) -> bool:
        return False

    def __setitem__(self, key: str, value: Any) -> None:
        return None


class MovableClock:
    """Wall-clock time plus an offset the test moves forward.

    Drives both the function's credential refresh (``now``) and moto's STS, so
    credentials issued after a jump expire an hour after the *moved* time, as
    they would on AWS.
    """

    def __init__(self) -> None:
        self.offset = datetime.timedelta()

    def now(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC) + self.offset

    def moto_utcnow(self) -> datetime.datetime:
        return self.now().replace(tzinfo=None)  # moto works in naive UTC

    def advance(self, **delta: float) -> None:
        self.offset += datetime.timedelta(**delta)


def assumed_role_sessions(session_name: str = TENANT_ID) -> list[Any]:
    """Every AssumeRole into the operations account with this session name (moto's books)."""
    from moto.sts.models import sts_backends

    roles = sts_backends[OPS_ACCOUNT]["aws"].assumed_roles
    return [role for role in roles if role.session_name == session_name]


# --- The handler as Lambda loads it --------------------------------------------------------


@dataclass
class FakeLambdaContext:
    """The attributes Powertools' ``inject_lambda_context`` reads."""

    function_name: str = "bedrock-invoker-acme"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = (
        f"arn:aws:lambda:{REGION}:{TENANT_ACCOUNT}:function:bedrock-invoker-acme"
    )
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/bedrock-invoker-acme"
    log_stream_name: str = "2025/01/01/[$LATEST]abc"

    remaining_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def load_handler() -> ModuleType:
    """Import handler.py as a cold start would: settings read from the environment now."""
    name = "bedrock_invoker_handler"
    sys.modules.pop(name, None)
    spec = importlib.util.spec_from_file_location(name, INVOKER_DIR / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def event(**overrides: Any) -> dict[str, Any]:
    """A valid event, with ``overrides`` applied (``None`` removes a key)."""
    base: dict[str, Any] = {
        "prompt": "Translate 'good morning' to French.",
        "user_id": "alice@example.com",
        "application_id": "support-bot",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}
