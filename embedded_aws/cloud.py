"""The embedded AWS: moto's server in-process, plus what moto lacks.

``EmbeddedCloud`` runs moto's ``DomainDispatcherApplication`` on a werkzeug
server thread bound to ``localhost`` and wraps it in a WSGI middleware that:

* verifies every request's SigV4 signature, session token and credential
  lifetime with the secrets the embedded IAM/STS issued
  (``embedded_aws.authentication``), and answers GetSessionToken with
  credentials of the calling user;
* enforces trust policies on ``sts:AssumeRole`` (``embedded_aws.trust``);
* serves every bedrock-runtime operation, held to IAM (``embedded_aws.bedrock``);
* scopes change-set names to their stack and files custom-resource answers
  under the stack's account (``embedded_aws.moto_patches.cloudformation``);
* counts signed requests by service and operation;
* serves a small JSON admin API under ``/_embedded/`` (health, Bedrock call
  log and faults, AssumeRole decisions, the clock credentials expire by).

While it runs, ``embedded_aws.moto_patches`` corrects moto where it falls short
of AWS (the local Lambda runner as moto's Lambda executor, change sets, custom
resources, versions, aliases, application inference profiles). It creates one
deployer IAM user (administrator) per account so that every account is reached
with its own access key. ``MOTO_ACCOUNT_ID`` is never set: moto picks the
account from the access key.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import secrets
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import boto3
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import ThreadedWSGIServer
from werkzeug.wrappers import Request, Response

from contracts.registry import TenantRegistry, load_registry
from embedded_aws import moto_patches
from embedded_aws.authentication import Refusal, authenticate, refusal_response
from embedded_aws.aws_request import WSGIApp, operation_name, request_params
from embedded_aws.bedrock import BedrockEmulator
from embedded_aws.clock import EmbeddedClock
from embedded_aws.identity import (
    CallerIdentity,
    SigV4Scope,
    issue_session_token,
)
from embedded_aws.lambda_runner import CDK_CONTEXT, LambdaRunner
from embedded_aws.moto_patches.cloudformation import (
    is_custom_resource_answer,
    scope_change_set_to_its_stack,
    serve_custom_resource_answer,
)
from embedded_aws.trust import AssumeRoleCall, AssumeRoleDenied, authorize_assume_role

_log = logging.getLogger(__name__)

HOST = "localhost"
DEPLOYER_USER = "embedded-deployer"
_ADMIN_POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
_STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
# The access key the cloud signs its own setup calls with (creating each
# account's deployer, before any IAM key exists). Its secret is made at start
# and never leaves the process.
BOOTSTRAP_ACCESS_KEY = "bootstrap"
# Paths served without a signature: moto's own API (its dashboard, reset and
# seeded results) and a custom resource's answer to moto's ResponseURL (AWS's is
# a presigned S3 URL; moto's carries no signature to check).
_UNSIGNED_PREFIXES = ("/moto-api/",)
# GetSessionToken's default and limits for an IAM user, in seconds.
_SESSION_TOKEN_SECONDS = (43200, 900, 129600)


@dataclass(frozen=True)
class AccountCredentials:
    """The deployer access key of one embedded account."""

    account_id: str
    access_key_id: str
    secret_access_key: str
    user_arn: str

    def env(self, endpoint_url: str, region: str) -> dict[str, str]:
        """Environment variables that point an SDK or the CDK CLI at this account."""
        return {
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
        }

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form (for the state file)."""
        return {
            "account_id": self.account_id,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "user_arn": self.user_arn,
        }


@dataclass(frozen=True)
class AssumeRoleDecision:
    """One AssumeRole call as the trust enforcement decided it."""

    timestamp: str
    caller_arn: str
    role_arn: str
    external_id_given: bool
    allowed: bool
    reason: str


class NoDelayServer(ThreadedWSGIServer):
    """werkzeug's threaded server with TCP_NODELAY on every connection.

    Without it, delayed ACKs add about 40 ms to each call on a kept-alive
    connection, which would distort every latency figure.
    """

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr


class _QuietRequestHandler(MotoRequestHandler):
    """moto's handler, logging requests at DEBUG instead of printing each one."""

    def log(self, type: str, message: str, *args: Any) -> None:
        _log.debug("%s " + message, self.address_string(), *args)


# STS actions that return credentials. AssumeRole is evaluated against the trust
# policy; GetSessionToken and GetFederationToken return credentials of the signed
# caller itself (no other principal involved); the rest need identity providers
# or root sessions the embedded cloud cannot verify, so they are refused.
_CREDENTIAL_ACTIONS = frozenset(
    {
        "AssumeRole",
        "AssumeRoleWithWebIdentity",
        "AssumeRoleWithSAML",
        "AssumeRoot",
        "GetSessionToken",
        "GetFederationToken",
    }
)
_OWN_IDENTITY_ACTIONS = frozenset({"GetSessionToken", "GetFederationToken"})
_EVALUATED_ACTIONS = frozenset({"AssumeRole"}) | _OWN_IDENTITY_ACTIONS


def _sts_error(code: str, message: str, status: int) -> Response:
    request_id = str(uuid.uuid4())
    xml = (
        f'<ErrorResponse xmlns="{_STS_NS}">\n'
        f"  <Error>\n    <Type>Sender</Type>\n    <Code>{code}</Code>\n"
        f"    <Message>{xml_escape(message)}</Message>\n  </Error>\n"
        f"  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n"
    )
    return Response(
        xml, status=status, headers={"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
    )


def _session_token_response(caller: CallerIdentity, params: Mapping[str, str]) -> Response:
    """GetSessionToken for an IAM user: credentials that act as the user, with their token.

    moto answers it with the same example keys for everyone; AWS refuses it to
    a role session.
    """
    if caller.kind != "user":
        return _sts_error(
            "AccessDenied", "Cannot call GetSessionToken with session credentials", 403
        )
    default, shortest, longest = _SESSION_TOKEN_SECONDS
    try:
        seconds = int(params.get("DurationSeconds", default))
    except ValueError:
        seconds = -1
    if not shortest <= seconds <= longest:
        return _sts_error(
            "ValidationError",
            f"1 validation error detected: Value '{params.get('DurationSeconds')}' at "
            f"'durationSeconds' failed to satisfy constraint: Member must have value "
            f"between {shortest} and {longest}",
            400,
        )
    token = issue_session_token(caller, timedelta(seconds=seconds))
    request_id = str(uuid.uuid4())
    expiration = token.expiration.strftime("%Y-%m-%dT%H:%M:%SZ")
    xml = (
        f'<GetSessionTokenResponse xmlns="{_STS_NS}">\n'
        "  <GetSessionTokenResult>\n    <Credentials>\n"
        f"      <SessionToken>{token.session_token}</SessionToken>\n"
        f"      <SecretAccessKey>{token.secret_access_key}</SecretAccessKey>\n"
        f"      <Expiration>{expiration}</Expiration>\n"
        f"      <AccessKeyId>{token.access_key_id}</AccessKeyId>\n"
        "    </Credentials>\n  </GetSessionTokenResult>\n"
        f"  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n"
        "  </ResponseMetadata>\n</GetSessionTokenResponse>\n"
    )
    return Response(xml, headers={"Content-Type": "text/xml", "x-amzn-RequestId": request_id})


def _caller_identity_response(caller: CallerIdentity) -> Response:
    """GetCallerIdentity for GetSessionToken's keys, which moto does not know as the user's."""
    request_id = str(uuid.uuid4())
    xml = (
        f'<GetCallerIdentityResponse xmlns="{_STS_NS}">\n'
        "  <GetCallerIdentityResult>\n"
        f"    <Arn>{caller.arn}</Arn>\n"
        f"    <UserId>{caller.unique_id}</UserId>\n"
        f"    <Account>{caller.account_id}</Account>\n"
        "  </GetCallerIdentityResult>\n"
        f"  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n"
        "  </ResponseMetadata>\n</GetCallerIdentityResponse>\n"
    )
    return Response(xml, headers={"Content-Type": "text/xml", "x-amzn-RequestId": request_id})


class EmbeddedApp:
    """The WSGI middleware in front of moto; see the module docstring."""

    def __init__(
        self,
        moto_app: WSGIApp,
        bedrock: BedrockEmulator,
        port: Callable[[], int],
        clock: EmbeddedClock | None = None,
    ) -> None:
        self.moto_app = moto_app
        self.bedrock = bedrock
        self._port = port
        self.clock = clock or EmbeddedClock()
        # Set by EmbeddedCloud once its runner is up (the admin API's role sessions).
        self.lambda_runner: LambdaRunner | None = None
        self.bootstrap_secret = secrets.token_urlsafe(32)
        self._lock = threading.Lock()
        self.assume_role_decisions: list[AssumeRoleDecision] = []
        # Requests served, by "<signing service>:<operation>" (see aws_request.operation_name).
        self.request_counts: Counter[str] = Counter()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = str(environ.get("PATH_INFO", ""))
        if path.startswith("/_embedded/"):
            return self._admin(Request(environ), path.removeprefix("/_embedded/"))(
                environ, start_response
            )
        verified = self._authenticate(environ, path)
        if isinstance(verified, Response):
            return verified(environ, start_response)
        scope = verified.signature.scope if verified is not None else None
        if scope is not None:
            operation = f"{scope.service}:{operation_name(environ)}"
            with self._lock:
                self.request_counts[operation] += 1
        if scope is not None and scope.service == "bedrock":
            request = Request(environ)
            if BedrockEmulator.matches(request):
                return self.bedrock.handle(request)(environ, start_response)
        denied = self._check_sts(environ, scope, verified.identity if verified else None)
        if denied is not None:
            return denied(environ, start_response)
        if scope is not None and scope.service == "cloudformation":
            scope_change_set_to_its_stack(environ, scope.access_key_id, scope.region)
        if is_custom_resource_answer(path):
            return serve_custom_resource_answer(environ, start_response, self.moto_app)
        return self.moto_app(environ, start_response)

    def _authenticate(self, environ: dict[str, Any], path: str) -> Any:
        """The verified request (None on a path served unsigned), or the refusal to answer."""
        own_key = environ.get("HTTP_X_MOTO_ACCOUNT_ID") is not None
        if path.startswith(_UNSIGNED_PREFIXES) or is_custom_resource_answer(path):
            environ.pop("HTTP_X_MOTO_ACCOUNT_ID", None)
            return None
        verified = authenticate(
            environ, own_keys={BOOTSTRAP_ACCESS_KEY: self.bootstrap_secret} if own_key else {}
        )
        if isinstance(verified, Refusal):
            return refusal_response(environ, verified)
        if verified.identity is not None:
            # moto lets this header act in any account; only the cloud's own key may.
            environ.pop("HTTP_X_MOTO_ACCOUNT_ID", None)
        return verified

    def _check_sts(
        self,
        environ: dict[str, Any],
        scope: SigV4Scope | None,
        caller: CallerIdentity | None,
    ) -> Response | None:
        """Evaluate every STS call that issues credentials, whatever its shape, or refuse it.

        The action can arrive in a form body (POST), in the query string (GET, or
        POST with the action in the URL), signed or not. moto answers all of them
        and hands out credentials for any role, so the check looks at every shape:
        AssumeRole is evaluated against the target's trust policy; the federated
        and root variants, which the embedded cloud cannot verify, are refused.
        """
        params = request_params(environ)
        action = params.get("Action", "")
        if action == "GetCallerIdentity" and caller is not None and caller.is_user_session:
            return _caller_identity_response(caller)
        if action not in _CREDENTIAL_ACTIONS and not (
            scope is not None and scope.service == "sts" and action.startswith("Assume")
        ):
            return None
        call = AssumeRoleCall(
            role_arn=params.get("RoleArn", ""),
            role_session_name=params.get("RoleSessionName"),
            external_id=params.get("ExternalId"),
            source_identity=params.get("SourceIdentity"),
        )
        if action not in _EVALUATED_ACTIONS:
            reason = f"{action or 'an STS action'} is not supported by the embedded cloud"
            self._record("unverified", call, allowed=False, reason=reason)
            return _sts_error("AccessDenied", f"{reason}: refused", 403)
        if caller is None:
            self._record("unknown", call, allowed=False, reason="unsigned or unknown access key")
            return _sts_error(
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
                403,
            )
        if action == "GetSessionToken":
            return _session_token_response(caller, params)
        if action in _OWN_IDENTITY_ACTIONS:
            return None  # credentials for the caller itself: no other principal's trust
        try:
            authorize_assume_role(caller, call)
        except AssumeRoleDenied as denied:
            self._record(caller.arn, call, allowed=False, reason=denied.reason)
            return _sts_error("AccessDenied", str(denied), 403)
        self._record(caller.arn, call, allowed=True, reason="allowed")
        return None

    def _record(self, caller_arn: str, call: AssumeRoleCall, *, allowed: bool, reason: str) -> None:
        decision = AssumeRoleDecision(
            timestamp=datetime.now(UTC).isoformat(),
            caller_arn=caller_arn,
            role_arn=call.role_arn,
            external_id_given=call.external_id is not None,
            allowed=allowed,
            reason=reason,
        )
        with self._lock:
            self.assume_role_decisions.append(decision)

    def _admin(self, request: Request, subpath: str) -> Response:
        if subpath == "health":
            return Response(
                json.dumps({"status": "ok", "pid": os.getpid(), "port": self._port()}),
                content_type="application/json",
            )
        if subpath.startswith("bedrock/"):
            return self.bedrock.handle_admin(request, subpath.removeprefix("bedrock/"))
        if subpath == "clock":
            return self._clock_admin(request)
        if subpath == "lambda/role-session":
            return self._role_session_admin(request)
        if subpath == "sts/assume-role":
            with self._lock:
                decisions = [d.__dict__ for d in self.assume_role_decisions]
            return Response(json.dumps({"decisions": decisions}), content_type="application/json")
        return Response(
            json.dumps({"message": "not found"}), status=404, content_type="application/json"
        )

    def _role_session_admin(self, request: Request) -> Response:
        """GET ``?function=<ARN>``: the function's environment and a session of its role."""
        runner = self.lambda_runner
        arn = request.args.get("function", "")
        try:
            if runner is None:
                raise KeyError("the embedded Lambda runner is not running")
            env = runner.role_session(arn)
        except (KeyError, AssumeRoleDenied) as exc:
            status = 403 if isinstance(exc, AssumeRoleDenied) else 404
            return Response(
                json.dumps({"message": f"{arn}: {exc}"}),
                status=status,
                content_type="application/json",
            )
        return Response(json.dumps({"environment": env}), content_type="application/json")

    def _clock_admin(self, request: Request) -> Response:
        """GET the clock; POST ``{"advance_seconds": N}`` to move it; DELETE to reset it."""
        if request.method == "POST":
            seconds = (request.get_json(silent=True) or {}).get("advance_seconds")
            if not isinstance(seconds, int | float) or seconds < 0:
                return Response(
                    json.dumps({"message": "advance_seconds must be a number >= 0"}),
                    status=400,
                    content_type="application/json",
                )
            self.clock.advance(timedelta(seconds=seconds))
        elif request.method == "DELETE":
            self.clock.reset()
        state = {
            "now": self.clock.now().isoformat(),
            "offset_seconds": self.clock.offset.total_seconds(),
        }
        return Response(json.dumps(state), content_type="application/json")


class EmbeddedCloud:
    """An in-process AWS for tests, the demo and ``tenantctl local``.

    Usage::

        with EmbeddedCloud(accounts=["111111111111", "222222222222"]) as cloud:
            sts = cloud.client("sts", "222222222222")
            ...

    Only one cloud runs per process at a time: moto's backends are global.
    Starting one resets them.
    """

    cdk_context = CDK_CONTEXT
    _active: EmbeddedCloud | None = None
    _active_lock = threading.Lock()

    def __init__(
        self,
        *,
        accounts: Iterable[str] = (),
        region: str = "us-east-1",
        port: int = 0,
        warm_lambdas: bool = True,
        registry: TenantRegistry | None = None,
    ) -> None:
        ids = list(accounts)
        if registry is not None:
            ids += [ops.account_id for ops in registry.operations_accounts()]
            ids += [t.account_id for t in registry.resolved_tenants()]
            region = registry.operations.region
        self.account_ids: list[str] = list(dict.fromkeys(ids))
        self.region = region
        self._requested_port = port
        self._warm_lambdas = warm_lambdas
        self._server: NoDelayServer | None = None
        self._thread: threading.Thread | None = None
        self._uninstall: Callable[[], None] | None = None
        self._previous_moto_port: str | None = None
        self._credentials: dict[str, AccountCredentials] = {}
        self.bedrock = BedrockEmulator(
            profile_regions=(registry.operations.inference_profile_regions if registry else None)
        )
        self.lambda_runner: LambdaRunner | None = None
        self.app: EmbeddedApp | None = None
        # The time credentials expire by; tests advance it (see embedded_aws.clock).
        self.clock = EmbeddedClock()

    @classmethod
    def from_registry(cls, path: str | Path, **kwargs: Any) -> EmbeddedCloud:
        """A cloud with the operations account and every tenant account of a registry."""
        return cls(registry=load_registry(path), **kwargs)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port the cloud listens on (after start)."""
        if self._server is None:
            raise RuntimeError("the embedded cloud is not running")
        return int(self._server.server_port)

    @property
    def endpoint_url(self) -> str:
        """``http://localhost:PORT``: the value of ``AWS_ENDPOINT_URL``."""
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._server is not None

    def start(self) -> EmbeddedCloud:
        """Reset moto, start serving, install the Lambda runner, create deployer users."""
        with EmbeddedCloud._active_lock:
            if EmbeddedCloud._active is not None:
                raise RuntimeError("another EmbeddedCloud is already running in this process")
            EmbeddedCloud._active = self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
        moto_app = DomainDispatcherApplication(create_backend_app)
        self.clock.install()
        self.app = EmbeddedApp(moto_app, self.bedrock, lambda: self.port, self.clock)
        self._server = NoDelayServer(
            HOST, self._requested_port, self.app, handler=_QuietRequestHandler
        )
        # moto builds custom resources' ResponseURL from MOTO_PORT.
        self._previous_moto_port = os.environ.get("MOTO_PORT")
        os.environ["MOTO_PORT"] = str(self.port)
        self.lambda_runner = LambdaRunner(self.endpoint_url, warm=self._warm_lambdas)
        self.app.lambda_runner = self.lambda_runner
        self._uninstall = moto_patches.install(
            lambda_runner=self.lambda_runner, bedrock=self.bedrock
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"embedded-cloud-{self.port}", daemon=True
        )
        self._thread.start()
        atexit.register(self.stop)
        for account_id in self.account_ids:
            self._credentials[account_id] = self._create_deployer(account_id)

    def stop(self) -> None:
        """Stop serving, stop Lambda workers, undo the moto patch. Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self.lambda_runner is not None:
            self.lambda_runner.close()
            self.lambda_runner = None
        if self._uninstall is not None:
            self._uninstall()
            self._uninstall = None
        self.clock.uninstall()
        if self._previous_moto_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = self._previous_moto_port
        atexit.unregister(self.stop)
        with EmbeddedCloud._active_lock:
            if EmbeddedCloud._active is self:
                EmbeddedCloud._active = None

    def __enter__(self) -> EmbeddedCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- accounts --------------------------------------------------------------------------

    def _create_deployer(self, account_id: str) -> AccountCredentials:
        """Create the account's administrator user through the API, as its account."""
        iam = boto3.client(
            "iam",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=BOOTSTRAP_ACCESS_KEY,
            # Signed and verified like any key; its secret never leaves the process.
            aws_secret_access_key=self.app.bootstrap_secret if self.app else "",
        )

        def add_account_header(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account_id

        iam.meta.events.register("before-sign.iam.*", add_account_header)
        user = iam.create_user(UserName=DEPLOYER_USER)["User"]
        iam.put_user_policy(
            UserName=DEPLOYER_USER, PolicyName="AdministratorAccess", PolicyDocument=_ADMIN_POLICY
        )
        key = iam.create_access_key(UserName=DEPLOYER_USER)["AccessKey"]
        return AccountCredentials(
            account_id=account_id,
            access_key_id=key["AccessKeyId"],
            secret_access_key=key["SecretAccessKey"],
            user_arn=user["Arn"],
        )

    def credentials(self, account_id: str) -> AccountCredentials:
        """The deployer credentials of an account."""
        try:
            return self._credentials[account_id]
        except KeyError:
            known = ", ".join(self._credentials) or "none"
            raise KeyError(f"no embedded account {account_id} (known: {known})") from None

    def env(self, account_id: str, region: str | None = None) -> dict[str, str]:
        """Environment for a subprocess acting as the account's deployer."""
        return self.credentials(account_id).env(self.endpoint_url, region or self.region)

    def session(self, account_id: str, region: str | None = None) -> boto3.Session:
        """A boto3 session with the account's deployer credentials."""
        creds = self.credentials(account_id)
        return boto3.Session(
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            region_name=region or self.region,
        )

    def client(
        self, service: str, account_id: str, region: str | None = None, **kwargs: Any
    ) -> Any:
        """A boto3 client for ``service`` acting as the account's deployer."""
        session: Any = self.session(account_id, region)  # boto3's overloads want literals
        return session.client(service, endpoint_url=self.endpoint_url, **kwargs)

    # -- conveniences for tests, the demo and the CLI --------------------------------------

    def invoke(
        self,
        account_id: str,
        function_name: str,
        event: Mapping[str, Any],
        region: str | None = None,
    ) -> dict[str, Any]:
        """``lambda.invoke`` through the API; returns payload (parsed), function error, log."""
        import base64

        response = self.client("lambda", account_id, region).invoke(
            FunctionName=function_name, Payload=json.dumps(event).encode(), LogType="Tail"
        )
        raw = response["Payload"].read()
        return {
            "payload": json.loads(raw) if raw else None,
            "function_error": response.get("FunctionError"),
            "log_tail": base64.b64decode(response.get("LogResult", "")).decode(errors="replace"),
            "status_code": response["StatusCode"],
        }

    def request_counts(self) -> Counter[str]:
        """Signed requests served so far, by ``"<signing service>:<operation>"``
        (``"sts:AssumeRole"``, ``"logs:PutLogEvents"``, ``"bedrock:POST /model/<id>/converse"``)."""
        return Counter(self.app.request_counts) if self.app else Counter()

    def assume_role_decisions(self) -> list[AssumeRoleDecision]:
        """Every AssumeRole decision so far (allowed and denied)."""
        return list(self.app.assume_role_decisions) if self.app else []

    def state(self) -> dict[str, Any]:
        """What a client process needs to use this cloud (the serve-mode state file)."""
        return {
            "pid": os.getpid(),
            "port": self.port,
            "endpoint_url": self.endpoint_url,
            "region": self.region,
            "started_at": datetime.now(UTC).isoformat(),
            "accounts": {a: c.to_dict() for a, c in self._credentials.items()},
        }
