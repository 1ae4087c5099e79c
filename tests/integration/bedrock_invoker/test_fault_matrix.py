"""The invoker's fault matrix: one test per fault, named after the behaviour it expects.

Every row asserts both sides of one invocation:

* what the caller gets back: the answer, or a clean ``{"error": {"type", "message"}}``;
* where the usage records are: how many, with which status and error_type, in the
  tenant's usage log group or printed to stdout (``"delivery": "fallback"``, the
  function's own log group, still the tenant's account), and never anything in
  the operations account.

Faults are injected where they happen on AWS: in the Bedrock emulator (throttling,
access denied, a model that never answers), at the socket (an endpoint that is
unreachable, resets the connection or never answers), in STS (a trust policy
refusing a wrong ExternalId) and in CloudWatch Logs (throttling, an outage, a
deleted stream).
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs

import boto3
import botocore.handlers
import pytest
from botocore.awsrequest import AWSResponse
from invoker.invocation import DEADLINE_MARGIN_MS, TIMEOUT_RECORD_MARGIN_MS, BedrockInvoker
from moto.core.botocore_stubber import MockRawResponse
from moto.logs.models import logs_backends

from contracts.model_access import default_profile_regions, model_grants
from embedded_aws.identity import parse_authorization, resolve_access_key
from embedded_aws.trust import AssumeRoleCall, AssumeRoleDenied, authorize_assume_role
from tests.support.invoker_testkit import (
    EXTERNAL_ID,
    HAIKU,
    LOG_GROUP,
    OPS_ACCOUNT,
    OPS_ROLE_ARN,
    REGION,
    TENANT_ACCOUNT,
    TENANT_ID,
    US_HAIKU,
    Accounts,
    ApiCalls,
    ConverseStub,
    FakeLambdaContext,
    MovableClock,
    NoCredentialCache,
    assumed_role_sessions,
    event,
    fail_operation,
)

Handler = Callable[[], ModuleType]
Record = dict[str, Any]

ANSWER = "Bonjour !"
USER_STREAM = "alice@example.com"  # event()'s user id, a valid stream name as is
OPS_ROLE_NAME = f"bedrock-invoker-{TENANT_ID}"
TENANT_USER = "bedrock-invoker-lambda"  # the testkit's stand-in for the Lambda's role


# --- Where the records are --------------------------------------------------------------------


def _fallback_lines(out: str) -> list[Record]:
    return [
        json.loads(line)
        for line in out.splitlines()
        if '"delivery":"fallback"' in line.replace(" ", "")
    ]


@dataclass
class Records:
    """Every usage record of the test: in the usage log group and printed to stdout."""

    group: list[Record]
    fallback: list[Record]

    @property
    def everywhere(self) -> list[Record]:
        return self.group + self.fallback


def _records(accounts: Accounts, capsys: pytest.CaptureFixture[str]) -> Records:
    """Read once per test: capsys hands out what was printed only once."""
    return Records(accounts.usage_records(), _fallback_lines(capsys.readouterr().out))


def _assert_nothing_in_the_operations_account(accounts: Accounts) -> None:
    assert accounts.ops_logs.describe_log_groups()["logGroups"] == []
    assert dict(logs_backends[OPS_ACCOUNT][REGION].groups) == {}
    # The tenant account holds the usage group and nothing the function invented.
    assert list(logs_backends[TENANT_ACCOUNT][REGION].groups) == [LOG_GROUP]


def _split_provisional(records: list[Record]) -> tuple[list[Record], list[Record]]:
    provisional = [r for r in records if r.get("provisional")]
    final = [r for r in records if not r.get("provisional")]
    return provisional, final


# --- Time -------------------------------------------------------------------------------------


@dataclass
class CountdownContext(FakeLambdaContext):
    """A Lambda context whose remaining time runs down from ``budget_ms`` on the wall clock."""

    budget_ms: int = 6_000
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return int(self.budget_ms - (time.monotonic() - self.started) * 1000)


# --- Faults -----------------------------------------------------------------------------------


def _insert_handler(monkeypatch: pytest.MonkeyPatch, event_name: str, handler: Any) -> None:
    """Register ``handler`` on every botocore session created from now on, ahead of moto."""
    handlers = list(botocore.handlers.BUILTIN_HANDLERS)
    handlers.insert(0, (event_name, handler))
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", handlers)


def _answer_instead_of_moto(request: Any, response: AWSResponse) -> AWSResponse:
    """Answer ``request`` from a before-send hook, and keep moto from carrying it out.

    botocore runs every before-send handler and keeps the first response; moto's
    own handler (the last) would still act on a request it recognises, e.g.
    store the log event. So the request is pointed at an address moto does not
    serve; it is never sent, a response being there already.
    """
    request.url = "http://fault-injected.invalid/"
    return response


def _throttle_operation(monkeypatch: pytest.MonkeyPatch, service: str, operation: str) -> list[str]:
    """Answer every attempt of a JSON-protocol operation with ThrottlingException (HTTP 400).

    Returns the throttled attempts (one request id each).
    """
    throttled: list[str] = []

    def throttle(request: Any, **kwargs: Any) -> AWSResponse:
        request_id = str(uuid.uuid4())
        throttled.append(request_id)
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id}
        response = AWSResponse(request.url, 400, headers, MockRawResponse(body))  # type: ignore[arg-type]
        return _answer_instead_of_moto(request, response)

    _insert_handler(monkeypatch, f"before-send.{service}.{operation}", throttle)
    return throttled


@dataclass
class _Reroute:
    """A before-send hook sending each attempt to ``endpoint_url`` instead of moto, once armed.

    moto only answers URLs it knows; a request to localhost goes out on a real
    socket, with the calling client's own connect and read timeouts.
    """

    endpoint_url: str
    armed: bool = True
    routed: list[str] = field(default_factory=list)

    def __call__(self, request: Any, **kwargs: Any) -> None:
        if self.armed:
            self.routed.append(request.url)
            request.url = self.endpoint_url + "/"


def _route_operation_to(
    monkeypatch: pytest.MonkeyPatch,
    service: str,
    operation: str,
    endpoint_url: str,
    *,
    armed: bool = True,
) -> _Reroute:
    reroute = _Reroute(endpoint_url, armed=armed)
    _insert_handler(monkeypatch, f"before-send.{service}.{operation}", reroute)
    return reroute


@contextmanager
def _silent_endpoint() -> Iterator[str]:
    """A TCP endpoint that takes connections and never answers: a hung service.

    The kernel completes the handshake (the listen backlog); nothing ever reads
    or replies, so a client waits for its read timeout.
    """
    server = socket.create_server(("127.0.0.1", 0), backlog=64)
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()


@contextmanager
def _resetting_endpoint() -> Iterator[tuple[str, list[int]]]:
    """A TCP endpoint that reads each request and resets the connection (RST) instead."""
    server = socket.create_server(("127.0.0.1", 0), backlog=16)
    server.settimeout(0.05)
    stop = threading.Event()
    resets: list[int] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                with suppress(OSError):
                    conn.recv(65536)
                # Linger on, zero timeout: close() sends RST, not FIN.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            resets.append(1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", resets
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def _sts_access_denied(url: str, message: str) -> AWSResponse:
    request_id = str(uuid.uuid4())
    escaped = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    xml = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        "<Error><Type>Sender</Type><Code>AccessDenied</Code>"
        f"<Message>{escaped}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    headers = {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
    return AWSResponse(url, 403, headers, MockRawResponse(xml))  # type: ignore[arg-type]


def _enforce_trust_policies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Decide sts:AssumeRole as IAM does (the embedded cloud's check); moto alone allows all.

    Returns the reasons of the calls refused.
    """
    denials: list[str] = []

    def check(request: Any, **kwargs: Any) -> AWSResponse | None:
        body = request.body or b""
        text = body.decode() if isinstance(body, bytes) else str(body)
        params = {k: v[0] for k, v in parse_qs(text).items()}
        authorization = request.headers.get("Authorization") or b""
        if isinstance(authorization, bytes):
            authorization = authorization.decode()
        scope = parse_authorization(authorization)
        caller = resolve_access_key(scope.access_key_id) if scope is not None else None
        assert caller is not None, "AssumeRole signed with a key moto never issued"
        call = AssumeRoleCall(
            role_arn=params.get("RoleArn", ""),
            role_session_name=params.get("RoleSessionName"),
            external_id=params.get("ExternalId"),
            source_identity=params.get("SourceIdentity"),
        )
        try:
            authorize_assume_role(caller, call)
        except AssumeRoleDenied as denied:
            denials.append(denied.reason)
            return _answer_instead_of_moto(request, _sts_access_denied(request.url, str(denied)))
        return None

    _insert_handler(monkeypatch, "before-send.sts.AssumeRole", check)
    return denials


def _iam_in(account_id: str) -> Any:
    client = boto3.Session(region_name=REGION).client("iam")

    def in_account(request: Any, **kwargs: Any) -> None:
        request.headers["x-moto-account-id"] = account_id

    client.meta.events.register("before-sign", in_account)
    return client


def _model_access_policy(models: list[str]) -> str:
    """The ops role's ModelAccess inline policy as the ops stack grants it, for ``models``."""
    grants = model_grants(
        models,
        partition="aws",
        region=REGION,
        account=OPS_ACCOUNT,
        profile_regions=default_profile_regions(),
    )
    return json.dumps(
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
                for grant in grants
            ],
        }
    )


# --- 1. Bedrock throttles twice, then answers --------------------------------------------------


def test_two_throttles_then_an_answer_returns_the_answer_and_records_two_retries(
    set_function_env: Callable[..., None],
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    set_function_env(BEDROCK_MAX_ATTEMPTS="4")  # read by the cold start below
    converse_stub.fail("ThrottlingException", count=2)

    result = cold_handler().lambda_handler(event(), lambda_context)

    assert result["output"] == ANSWER
    assert [c.outcome for c in converse_stub.calls] == [
        "ThrottlingException",
        "ThrottlingException",
        "success",
    ]
    records = _records(accounts, capsys)
    [record] = records.group
    assert record["status"] == "success"
    assert "error_type" not in record
    assert record["bedrock_retries"] == 2  # botocore's RetryAttempts
    assert record["request_id"] == result["request_id"] == converse_stub.calls[-1].request_id
    assert (record["input_tokens"], record["output_tokens"]) == (12, 7)
    assert record["invocation_id"] == lambda_context.aws_request_id
    assert records.fallback == []
    _assert_nothing_in_the_operations_account(accounts)


# --- 2. Bedrock throttles past the retry budget ------------------------------------------------


def test_throttling_past_the_retry_budget_returns_a_clean_throttling_error_and_one_error_record(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    converse_stub.always_fail("ThrottlingException")

    result = cold_handler().lambda_handler(event(), lambda_context)

    assert result == {
        "error": {
            "type": "ThrottlingException",
            "message": "Too many requests, please wait before trying again.",
        }
    }
    assert len(converse_stub.calls) == 2  # the kit's BEDROCK_MAX_ATTEMPTS
    records = _records(accounts, capsys)
    [record] = records.group
    assert (record["status"], record["error_type"]) == ("error", "ThrottlingException")
    assert record["bedrock_retries"] == 1
    assert record["request_id"] == converse_stub.calls[-1].request_id
    assert record["invocation_id"] == lambda_context.aws_request_id
    assert records.fallback == []
    _assert_nothing_in_the_operations_account(accounts)


# --- 3. Bedrock denies access: the ops role may not invoke the model ---------------------------


def test_a_model_the_operations_role_may_not_invoke_returns_a_clean_access_denied_and_one_record(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The ops role now grants only the profile: HAIKU is on the function's allowlist
    # (ALLOWED_MODELS), but not in the role's policy any more.
    _iam_in(OPS_ACCOUNT).put_role_policy(
        RoleName=OPS_ROLE_NAME,
        PolicyName="ModelAccess",
        PolicyDocument=_model_access_policy([US_HAIKU]),
    )

    result = cold_handler().lambda_handler(event(model_id=HAIKU), lambda_context)

    assert set(result) == {"error"}
    assert result["error"]["type"] == "AccessDeniedException"
    assert "is not authorized to perform: bedrock:InvokeModel" in result["error"]["message"]
    assert "Traceback" not in result["error"]["message"]
    [call] = converse_stub.calls  # refused by the role's policy, not retried
    assert (call.outcome, call.account_id) == ("AccessDeniedException", OPS_ACCOUNT)
    records = _records(accounts, capsys)
    [record] = records.group
    assert (record["status"], record["error_type"]) == ("error", "AccessDeniedException")
    assert (record["model_id"], record["request_id"]) == (HAIKU, call.request_id)
    assert record["error_message"] == result["error"]["message"]
    assert records.fallback == []
    _assert_nothing_in_the_operations_account(accounts)


# --- 4. Bedrock times out, or its connection fails ----------------------------------------------


def test_a_model_that_never_answers_returns_a_clean_timeout_before_the_deadline_and_supersedes(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A 6 s budget: the watchdog's record at 5 s before the end, the call given up at 4 s.
    never = threading.Event()
    converse_stub.hold_answers(never)
    handler = cold_handler()
    context = CountdownContext(budget_ms=6_000)
    try:
        result = handler.lambda_handler(event(), context)
        left_ms = context.get_remaining_time_in_millis()
    finally:
        never.set()  # let the abandoned call end

    assert result == {
        "error": {
            "type": "FunctionTimeout",
            "message": "Bedrock did not answer before the function's timeout",
        }
    }
    assert left_ms > 0  # returned before Lambda's own timeout
    records = _records(accounts, capsys)
    provisional, final = _split_provisional(records.group)
    assert len(provisional) == 1 and len(final) == 1, records.group
    assert provisional[0]["error_type"] == "FunctionTimeout"
    assert "supersedes" not in provisional[0]
    assert (final[0]["status"], final[0]["error_type"]) == ("error", "FunctionTimeout")
    assert final[0]["supersedes"] == "FunctionTimeout"
    assert {provisional[0]["invocation_id"], final[0]["invocation_id"]} == {context.aws_request_id}
    assert records.fallback == []
    _assert_nothing_in_the_operations_account(accounts)


def test_an_unreachable_bedrock_endpoint_returns_a_clean_connection_error_well_within_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    api_calls: ApiCalls,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fail_operation(monkeypatch, "bedrock-runtime", "Converse")
    handler = cold_handler()
    context = CountdownContext(budget_ms=30_000)

    result = handler.lambda_handler(event(), context)

    assert set(result) == {"error"}
    assert result["error"]["type"] == "EndpointConnectionError"
    assert "Traceback" not in result["error"]["message"]
    # Well within the timeout: the watchdog never had a reason to fire.
    assert context.get_remaining_time_in_millis() > TIMEOUT_RECORD_MARGIN_MS
    assert api_calls.attempts["bedrock-runtime:Converse"] == 2  # BEDROCK_MAX_ATTEMPTS
    assert converse_stub.calls == []
    records = _records(accounts, capsys)
    [record] = records.group
    assert (record["status"], record["error_type"]) == ("error", "EndpointConnectionError")
    assert "provisional" not in record and "supersedes" not in record
    assert record["invocation_id"] == context.aws_request_id
    assert records.fallback == []
    _assert_nothing_in_the_operations_account(accounts)


def test_a_connection_reset_by_bedrock_returns_a_clean_error_and_one_record_within_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
    accounts: Accounts,
    cold_handler: Handler,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with _resetting_endpoint() as (endpoint_url, resets):
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", endpoint_url)
        handler = cold_handler()
        context = CountdownContext(budget_ms=30_000)

        result = handler.lambda_handler(event(), context)

    assert set(result) == {"error"}
    assert result["error"]["type"] == "ConnectionClosedError"
    assert "Traceback" not in result["error"]["message"]
    assert context.get_remaining_time_in_millis() > TIMEOUT_RECORD_MARGIN_MS
    assert len(resets) == 2  # BEDROCK_MAX_ATTEMPTS, each connection reset
    records = _records(accounts, capsys)
    [record] = records.group
    assert (record["status"], record["error_type"]) == ("error", "ConnectionClosedError")
    assert "provisional" not in record
    assert record["invocation_id"] == context.aws_request_id
    assert records.fallback == []
    _assert_nothing_in_the_operations_account(accounts)


# --- 5. AssumeRole denied: a wrong ExternalId ---------------------------------------------------


def test_assume_role_refused_for_a_wrong_external_id_is_a_clean_error_recorded_by_the_tenant_only(
    monkeypatch: pytest.MonkeyPatch,
    set_function_env: Callable[..., None],
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    api_calls: ApiCalls,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The Lambda role may assume the ops role (cross-account needs both sides), so
    # only the trust policy's sts:ExternalId condition can refuse the call.
    _iam_in(TENANT_ACCOUNT).put_user_policy(
        UserName=TENANT_USER,
        PolicyName="AssumeOpsRole",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": OPS_ROLE_ARN}
                ],
            }
        ),
    )
    denials = _enforce_trust_policies(monkeypatch)
    wrong_external_id = "acme-0000000000000000"
    set_function_env(OPS_EXTERNAL_ID=wrong_external_id)

    result = cold_handler().lambda_handler(event(), lambda_context)

    assert result == {
        "error": {
            "type": "AccessDenied",
            "message": f"User: arn:aws:iam::{TENANT_ACCOUNT}:user/{TENANT_USER} is not "
            f"authorized to perform: sts:AssumeRole on resource: {OPS_ROLE_ARN}",
        }
    }
    assert len(denials) == 1 and denials[0].startswith("trust policy"), denials
    assert api_calls.calls["sts:AssumeRole"] == 1
    assert assumed_role_sessions() == []  # no ops session was ever issued
    assert converse_stub.calls == []  # Bedrock never called
    records = _records(accounts, capsys)
    [record] = records.group  # in the TENANT account's usage group
    assert (record["status"], record["error_type"]) == ("error", "AccessDenied")
    assert record["invocation_id"] == lambda_context.aws_request_id
    assert wrong_external_id not in json.dumps(record) and EXTERNAL_ID not in json.dumps(record)
    assert records.fallback == []
    _assert_nothing_in_the_operations_account(accounts)


# --- 6. Credentials expire mid-container --------------------------------------------------------


def test_credentials_expiring_mid_container_are_refreshed_once_and_no_call_fails(
    monkeypatch: pytest.MonkeyPatch,
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    api_calls: ApiCalls,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = MovableClock()
    monkeypatch.setattr("moto.sts.models.utcnow", clock.moto_utcnow)
    handler = cold_handler()
    # The container's invoker on the movable clock (handler.py builds it on the wall clock).
    monkeypatch.setattr(
        handler,
        "_invoker",
        BedrockInvoker.from_settings(
            handler.SETTINGS, clock=clock.now, credential_cache=NoCredentialCache()
        ),
    )
    contexts = [FakeLambdaContext(), FakeLambdaContext()]

    first = handler.lambda_handler(event(), contexts[0])
    assert api_calls.calls["sts:AssumeRole"] == 1
    clock.advance(minutes=61)  # the first hour's credentials have expired
    second = handler.lambda_handler(event(), contexts[1])

    assert first["output"] == second["output"] == ANSWER
    assert api_calls.calls["sts:AssumeRole"] == 2  # exactly one refresh
    assert len(assumed_role_sessions()) == 2
    assert [c.outcome for c in converse_stub.calls] == ["success", "success"]  # none failed
    first_key, second_key = (c.access_key_id for c in converse_stub.calls)
    assert first_key != second_key
    records = _records(accounts, capsys)
    assert [(r["status"], r["invocation_id"]) for r in records.group] == [
        ("success", contexts[0].aws_request_id),
        ("success", contexts[1].aws_request_id),
    ]
    assert records.fallback == []
    _assert_nothing_in_the_operations_account(accounts)


# --- 7. CloudWatch Logs throttles, or is unavailable ---------------------------------------------


def test_throttled_cloudwatch_logs_still_answers_and_prints_the_one_record_to_stdout(
    monkeypatch: pytest.MonkeyPatch,
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    throttled = _throttle_operation(monkeypatch, "cloudwatch-logs", "PutLogEvents")

    result = cold_handler().lambda_handler(event(), lambda_context)

    assert result["output"] == ANSWER
    assert len(throttled) == 3  # the logs client's attempts, then stdout
    records = _records(accounts, capsys)
    assert records.group == []
    [printed] = records.fallback  # exactly one: not duplicated
    assert printed["status"] == "success"
    assert printed["request_id"] == result["request_id"]
    assert printed["invocation_id"] == lambda_context.aws_request_id
    assert (printed["input_tokens"], printed["output_tokens"]) == (12, 7)
    _assert_nothing_in_the_operations_account(accounts)


def test_unavailable_cloudwatch_logs_still_answers_and_prints_the_one_record_to_stdout(
    monkeypatch: pytest.MonkeyPatch,
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    api_calls: ApiCalls,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for operation in ("CreateLogStream", "PutLogEvents"):
        fail_operation(monkeypatch, "cloudwatch-logs", operation)

    result = cold_handler().lambda_handler(event(), lambda_context)

    assert result["output"] == ANSWER
    assert api_calls.attempts["cloudwatch-logs:CreateLogStream"] == 3
    records = _records(accounts, capsys)
    assert records.group == []
    assert accounts.tenant_logs.describe_log_streams(logGroupName=LOG_GROUP)["logStreams"] == []
    [printed] = records.fallback
    assert printed["status"] == "success"
    assert printed["request_id"] == result["request_id"]
    assert printed["invocation_id"] == lambda_context.aws_request_id
    _assert_nothing_in_the_operations_account(accounts)


# --- 8. The usage log stream is deleted between calls --------------------------------------------


def test_a_usage_stream_deleted_between_calls_is_recreated_and_both_records_are_delivered(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    api_calls: ApiCalls,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = cold_handler()
    contexts = [FakeLambdaContext(), FakeLambdaContext()]

    first = handler.lambda_handler(event(), contexts[0])
    [first_record] = accounts.usage_records()
    accounts.tenant_logs.delete_log_stream(logGroupName=LOG_GROUP, logStreamName=USER_STREAM)
    assert accounts.usage_records() == []
    second = handler.lambda_handler(event(), contexts[1])

    assert first["output"] == second["output"] == ANSWER
    records = _records(accounts, capsys)
    [second_record] = records.group  # the first went with the deleted stream
    assert [r["invocation_id"] for r in (first_record, second_record)] == [
        c.aws_request_id for c in contexts
    ]
    assert {r["status"] for r in (first_record, second_record)} == {"success"}
    assert {r["_stream"] for r in (first_record, second_record)} == {USER_STREAM}
    assert api_calls.calls["cloudwatch-logs:CreateLogStream"] == 2  # recreated once
    assert api_calls.calls["cloudwatch-logs:PutLogEvents"] == 3  # one refused, retried
    assert records.fallback == []
    _assert_nothing_in_the_operations_account(accounts)


# --- 9. A hung CloudWatch Logs near the deadline ----------------------------------------------


def _fallback_lines_until(
    capsys: pytest.CaptureFixture[str], done: Callable[[list[Record]], bool], timeout_s: float
) -> list[Record]:
    """Fallback lines printed from now on, until ``done(lines)`` or ``timeout_s``."""
    lines: list[Record] = []
    deadline = time.monotonic() + timeout_s
    while not done(lines) and time.monotonic() < deadline:
        time.sleep(0.05)
        lines += _fallback_lines(capsys.readouterr().out)
    return lines


def test_a_hung_cloudwatch_logs_near_the_deadline_still_returns_in_time_and_keeps_the_record(
    monkeypatch: pytest.MonkeyPatch,
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A scaled timeline: the model answers (at once) with 4.5 s left, inside the
    # watchdog's 5 s margin (it fires at once) and 0.5 s before the call's 4 s
    # deadline margin. Every PutLogEvents then goes to a peer that never answers:
    # the writer's clients time out on their own (socket read timeouts), then stdout.
    with _silent_endpoint() as endpoint_url:
        hang = _route_operation_to(
            monkeypatch, "cloudwatch-logs", "PutLogEvents", endpoint_url, armed=False
        )
        handler = cold_handler()
        handler.lambda_handler(event(), FakeLambdaContext())  # warm: credentials, model, stream
        [warm_record] = _records(accounts, capsys).group
        hang.armed = True
        context = CountdownContext(budget_ms=4_500)

        result = handler.lambda_handler(event(), context)
        left_ms = context.get_remaining_time_in_millis()
        # When the handler returns, Lambda freezes the environment: whatever is not in
        # the tenant account by now may never get there.
        at_return = _records(accounts, capsys)

        def both_printed(lines: list[Record]) -> bool:
            return len([r for r in lines if r["invocation_id"] == context.aws_request_id]) >= 2

        # Only for the report: what threads still running print after the return.
        printed_later = _fallback_lines_until(capsys, both_printed, timeout_s=3.0)

    assert left_ms > 0  # returned before the deadline
    assert hang.routed  # the fault was met
    assert converse_stub.calls[-1].outcome == "success"
    if "error" in result:
        assert result["error"]["type"] == "FunctionTimeout"
        expected_final = ("error", "FunctionTimeout")
    else:
        assert result["output"] == ANSWER
        expected_final = ("success", None)
    assert at_return.group == [warm_record]  # every later PutLogEvents hung
    mine = [r for r in at_return.everywhere if r["invocation_id"] == context.aws_request_id]
    provisional, final = _split_provisional(mine)
    assert len(provisional) <= 1, provisional
    assert len(final) == 1, (
        f"caller got {result}; records of the call when the handler returned: {mine}; "
        f"printed after it returned: {printed_later}"
    )
    assert (final[0]["status"], final[0].get("error_type")) == expected_final
    _assert_nothing_in_the_operations_account(accounts)


# Sanity of the scaled timelines above: they rely on these margins.
def test_the_scaled_timelines_fit_the_function_margins() -> None:
    assert DEADLINE_MARGIN_MS < 4_500 < TIMEOUT_RECORD_MARGIN_MS < 6_000
