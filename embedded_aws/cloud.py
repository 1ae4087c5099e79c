"""The embedded AWS: moto's server in-process, plus what moto lacks.

``EmbeddedCloud`` runs moto's ``DomainDispatcherApplication`` on a werkzeug
server thread bound to ``localhost`` and wraps it in a WSGI middleware that:

* enforces trust policies on ``sts:AssumeRole`` (``embedded_aws.trust``);
* serves Bedrock Converse/ConverseStream (``embedded_aws.bedrock``);
* creates ``AWS::Bedrock::ApplicationInferenceProfile`` resources, which moto
  has no model for, in the Bedrock emulator (a generated ARN and id, tags);
* routes CloudFormation custom-resource answers to the stack's account (moto
  would file an unsigned answer under its default account) and turns a
  ``FAILED`` answer into a rolled-back stack instead of one stuck in progress;
* serves a small JSON admin API under ``/_embedded/`` (health, Bedrock call
  log and faults, AssumeRole decisions).

It also installs the local Lambda runner as moto's Lambda executor, and
creates one deployer IAM user (administrator) per account so that every
account is reached with its own access key. ``MOTO_ACCOUNT_ID`` is never set:
moto picks the account from the access key.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import logging
import os
import socket
import threading
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import boto3
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import ThreadedWSGIServer
from werkzeug.wrappers import Request, Response

from contracts.registry import TenantRegistry, load_registry
from embedded_aws.bedrock import ApplicationInferenceProfile, BedrockEmulator
from embedded_aws.identity import SigV4Scope, parse_authorization, resolve_access_key
from embedded_aws.lambda_runner import CDK_CONTEXT, LambdaRunner, install_moto_executor
from embedded_aws.trust import AssumeRoleCall, AssumeRoleDenied, authorize_assume_role

_log = logging.getLogger(__name__)

HOST = "localhost"
DEPLOYER_USER = "embedded-deployer"
_ADMIN_POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
_STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


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


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back so the next app can read it again."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


_CHANGE_SET_ACTIONS = frozenset({"DescribeChangeSet", "DeleteChangeSet", "ExecuteChangeSet"})

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


def _request_params(environ: dict[str, Any]) -> dict[str, str]:
    """A Query-protocol request's parameters: the query string, then a form body's."""
    params = {k: v[0] for k, v in parse_qs(str(environ.get("QUERY_STRING", ""))).items()}
    content_type = str(environ.get("CONTENT_TYPE", ""))
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    # A form body, or a small body without a type (moto reads those as forms too);
    # never an upload's megabytes.
    if environ.get("REQUEST_METHOD") == "POST" and (
        "x-www-form-urlencoded" in content_type or (not content_type and length <= 65536)
    ):
        body = _read_body(environ).decode("utf-8", "replace")
        params.update({k: v[0] for k, v in parse_qs(body).items()})
    return params


def _operation_name(environ: dict[str, Any]) -> str:
    """The operation a request calls: the JSON target, the Query action, or REST's method+path."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        return target.rpartition(".")[2]  # e.g. Logs_20140328.PutLogEvents
    action = _request_params(environ).get("Action")
    if action:
        return action
    return f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}"


def _scope_change_set_to_its_stack(
    environ: dict[str, Any], access_key_id: str, region: str
) -> None:
    """Name a change set by its ARN when the request names it by stack and name.

    On AWS a change-set name is unique per stack; moto looks a name up across the
    whole account, so two stacks deployed at once by the CDK CLI (which calls every
    change set ``cdk-deploy-change-set``) delete and execute each other's. The
    request is rewritten to the ARN of that stack's change set, which moto looks up
    exactly.
    """
    if environ.get("REQUEST_METHOD") != "POST":
        return
    body = _read_body(environ)
    form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    action = form.get("Action", [""])[0]
    name = form.get("ChangeSetName", [""])[0]
    stack = form.get("StackName", [""])[0]
    if action not in _CHANGE_SET_ACTIONS or not name or not stack or name.startswith("arn:"):
        return
    caller = resolve_access_key(access_key_id)
    if caller is None:
        return
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends[caller.account_id][region]
    for change_set_id, change_set in list(backend.change_sets.items()):
        owner = backend.stacks.get(change_set.stack_id)
        stack_matches = stack == change_set.stack_id or (owner is not None and owner.name == stack)
        if change_set.change_set_name == name and stack_matches:
            form["ChangeSetName"] = [change_set_id]
            rewritten = urlencode(form, doseq=True).encode()
            environ["wsgi.input"] = io.BytesIO(rewritten)
            environ["CONTENT_LENGTH"] = str(len(rewritten))
            return


def _sts_error(code: str, message: str, status: int) -> Response:
    request_id = str(uuid.uuid4())
    xml = (
        f'<ErrorResponse xmlns="{_STS_NS}">\n'
        f"  <Error>\n    <Type>Sender</Type>\n    <Code>{code}</Code>\n"
        f"    <Message>{_xml_escape(message)}</Message>\n  </Error>\n"
        f"  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n"
    )
    return Response(
        xml, status=status, headers={"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
    )


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def install_custom_resource_type(
    models: Mapping[str, Any] | None = None,
) -> Callable[[], None]:
    """Make moto's CloudFormation treat ``AWS::CloudFormation::CustomResource`` as custom.

    moto only recognises ``Custom::*`` types and silently skips the generic
    type that CDK's ``CustomResource`` emits by default, so the backing Lambda
    was never invoked and the stack reported CREATE_COMPLETE without it. The
    seam is ``moto.cloudformation.parsing.resource_class_from_type``; CDK's
    ``AWS::CDK::Metadata`` is also mapped to "no model" without a warning, and
    ``models`` adds resource types moto lacks (type -> model class).
    Returns a function that undoes the patch.
    """
    from moto.cloudformation import parsing
    from moto.cloudformation.custom_model import CustomModel

    original = parsing.resource_class_from_type
    extra = dict(models or {})

    def resource_class_from_type(resource_type: str) -> Any:
        if resource_type == "AWS::CloudFormation::CustomResource":
            return CustomModel
        if resource_type == "AWS::CDK::Metadata":
            return None
        if resource_type in extra:
            return extra[resource_type]
        return original(resource_type)

    parsing.resource_class_from_type = resource_class_from_type
    # CDK adds AWS::CDK::Metadata to every stack; moto warns for each one.
    warnings.filterwarnings("ignore", message="Tried to parse AWS::CDK::Metadata")

    def uninstall() -> None:
        parsing.resource_class_from_type = original

    return uninstall


APPLICATION_INFERENCE_PROFILE_TYPE = "AWS::Bedrock::ApplicationInferenceProfile"
# Changing any of these replaces the profile (create-only in the resource schema).
_PROFILE_CREATE_ONLY = ("InferenceProfileName", "Description", "ModelSource")


def application_profile_model(bedrock: BedrockEmulator) -> type:
    """A moto CloudFormation model of ``AWS::Bedrock::ApplicationInferenceProfile``.

    The profile lives in ``bedrock`` (the emulator that then accepts its ARN as a
    model id). ``Ref`` and ``GetAtt InferenceProfileIdentifier`` give the ARN,
    ``GetAtt InferenceProfileArn``/``InferenceProfileId`` the ARN and generated id.
    Not a ``CloudFormationModel`` subclass on purpose: moto registers those for
    every process, this exists only while an embedded cloud runs.
    """
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

    class ApplicationInferenceProfileResource:
        attributes = (
            "InferenceProfileArn",
            "InferenceProfileId",
            "InferenceProfileIdentifier",
            "Models",
            "Status",
            "Type",
        )

        def __init__(self, profile: ApplicationInferenceProfile, properties: Any) -> None:
            self.profile = profile
            self.properties = properties

        @property
        def physical_resource_id(self) -> str:
            return self.profile.arn

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in cls.attributes

        def get_cfn_attribute(self, attr: str) -> Any:
            profile = self.profile
            values = {
                "InferenceProfileArn": profile.arn,
                "InferenceProfileId": profile.profile_id,
                "InferenceProfileIdentifier": profile.arn,
                "Models": [{"ModelArn": profile.copy_from}],
                "Status": "ACTIVE",
                "Type": "APPLICATION",
            }
            if attr not in values:
                raise UnformattedGetAttTemplateException()
            return values[attr]

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> ApplicationInferenceProfileResource:
            props = cloudformation_json.get("Properties") or {}
            name = props.get("InferenceProfileName")
            copy_from = (props.get("ModelSource") or {}).get("CopyFrom")
            if not name or not copy_from:
                raise ValueError("InferenceProfileName and ModelSource.CopyFrom are required")
            profile = bedrock.create_application_profile(
                account_id=account_id,
                region=region_name,
                name=str(name),
                copy_from=str(copy_from),
                tags=_cfn_tags(props),
                description=props.get("Description"),
            )
            return cls(profile, props)

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: ApplicationInferenceProfileResource,
            new_resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> ApplicationInferenceProfileResource:
            props = cloudformation_json.get("Properties") or {}
            old = original_resource.properties
            if any(props.get(k) != old.get(k) for k in _PROFILE_CREATE_ONLY):
                # Replacement, as CloudFormation does it: the new one first.
                new = cls.create_from_cloudformation_json(
                    new_resource_name, cloudformation_json, account_id, region_name
                )
                bedrock.delete_application_profile(original_resource.profile.arn)
                return new
            profile = bedrock.tag_application_profile(
                original_resource.profile.arn, _cfn_tags(props)
            )
            return cls(profile, props)

        @classmethod
        def delete_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> None:
            bedrock.delete_application_profile(resource_name)

        def delete(self, account_id: str, region_name: str) -> None:
            bedrock.delete_application_profile(self.profile.arn)

        def is_created(self) -> bool:
            return True

    return ApplicationInferenceProfileResource


def _cfn_tags(properties: Mapping[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in properties.get("Tags") or []}


# Serializes "is the stack still waiting for a custom resource?" against the
# custom resource's answer, which arrives on another server thread.
_STACK_READINESS_LOCK = threading.RLock()


def install_change_set_readiness() -> Callable[[], None]:
    """Keep a stack created through a change set in progress until custom resources answer.

    moto's ``CloudFormationBackend.execute_change_set`` marks a new stack
    CREATE_COMPLETE at once, while ``create_stack`` waits for custom resources
    (``Stack.verify_readiness``). The CDK CLI deploys through change sets, so it
    would report success before the custom resource ran and without its
    outputs. It also re-parses the template, whose outputs moto would
    otherwise lose for change-set stacks. After moto's method, a CREATE whose
    custom resources have not all answered goes back to CREATE_IN_PROGRESS
    (its premature CREATE_COMPLETE event removed); the answer then completes
    it as with ``create_stack``.
    Updates keep moto's behaviour. Returns a function that undoes the patch.
    """
    from moto.cloudformation.models import CloudFormationBackend

    original = CloudFormationBackend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        with _STACK_READINESS_LOCK:
            change_set = self.change_sets.get(change_set_name) or next(
                (c for c in self.change_sets.values() if c.change_set_name == change_set_name), None
            )
            try:
                original(self, change_set_name, stack_name)
            except Exception as error:
                if change_set is None or change_set.change_set_type != "CREATE":
                    raise
                _roll_back_failed_create(self.stacks[change_set.stack_id], change_set, error)
                return
            if change_set is None:
                return
            stack = self.stacks[change_set.stack_id]
            # moto sets the new template text but keeps the old parsed one, so a
            # stack made from a change set has no outputs at all.
            stack._parse_template()
            stack.output_map = stack._create_output_map()
            if change_set.change_set_type != "CREATE":
                return
            pending = [c for c in stack.custom_resources.values() if not c.is_created()]
            if pending and stack.status == "CREATE_COMPLETE":
                stack.status = "CREATE_IN_PROGRESS"
                if stack.events and stack.events[-1].resource_status == "CREATE_COMPLETE":
                    stack.events.pop()

    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]

    def uninstall() -> None:
        CloudFormationBackend.execute_change_set = original  # type: ignore[method-assign]

    return uninstall


def _roll_back_failed_create(stack: Any, change_set: Any, error: Exception) -> None:
    """What CloudFormation does when a new stack's resource fails: roll back, then wait.

    moto raises out of ExecuteChangeSet instead and leaves the stack in
    REVIEW_IN_PROGRESS, where no deploy can touch it again. On AWS the call
    succeeds, the failure shows in the stack events, the resources created so far
    are deleted (those with ``DeletionPolicy: Retain`` kept) and the stack ends in
    ROLLBACK_COMPLETE, which the CDK CLI deletes
    and creates anew on the next deploy.
    """
    reason = f"{type(error).__name__}: {error}"[:500]
    stack._add_stack_event("CREATE_FAILED", resource_status_reason=reason)
    stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=reason)
    # moto's own deletion, which keeps DeletionPolicy Retain resources as AWS does.
    with contextlib.suppress(Exception):
        stack.resource_map.delete()
    stack._add_stack_event("ROLLBACK_COMPLETE")
    stack.status = "ROLLBACK_COMPLETE"
    change_set.execution_status = "EXECUTE_FAILED"


def install_docker_host() -> Callable[[], None]:
    """Skip moto's Docker probe for the custom-resource ResponseURL host.

    Inside a container moto's ``settings.moto_server_host`` shells out to curl
    against the Docker socket and prints a warning when there is none. The
    embedded cloud has no Docker: the host is always ``host.docker.internal``,
    which the Lambda runner rewrites to localhost.
    """
    from moto import settings

    original = settings.moto_server_host

    def moto_server_host() -> str:
        return "http://host.docker.internal"

    settings.moto_server_host = moto_server_host  # type: ignore[assignment]

    def uninstall() -> None:
        settings.moto_server_host = original

    return uninstall


class EmbeddedApp:
    """The WSGI middleware in front of moto; see the module docstring."""

    def __init__(
        self, moto_app: WSGIApp, bedrock: BedrockEmulator, port: Callable[[], int]
    ) -> None:
        self.moto_app = moto_app
        self.bedrock = bedrock
        self._port = port
        self._lock = threading.Lock()
        self.assume_role_decisions: list[AssumeRoleDecision] = []
        # Requests served, by "<signing service>:<operation>" (see _operation_name).
        self.request_counts: Counter[str] = Counter()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = str(environ.get("PATH_INFO", ""))
        if path.startswith("/_embedded/"):
            return self._admin(Request(environ), path.removeprefix("/_embedded/"))(
                environ, start_response
            )
        scope = parse_authorization(environ.get("HTTP_AUTHORIZATION"))
        if scope is not None:
            operation = f"{scope.service}:{_operation_name(environ)}"
            with self._lock:
                self.request_counts[operation] += 1
        if scope is not None and scope.service == "bedrock":
            request = Request(environ)
            if BedrockEmulator.matches(request):
                return self.bedrock.handle(request)(environ, start_response)
        denied = self._check_sts(environ, scope)
        if denied is not None:
            return denied(environ, start_response)
        if scope is not None and scope.service == "cloudformation":
            _scope_change_set_to_its_stack(environ, scope.access_key_id, scope.region)
        if path.endswith("/cfnresponse") and path.startswith("/cloudformation_"):
            with _STACK_READINESS_LOCK:
                answered = self._custom_resource_answer(environ)
                if answered is not None:
                    return answered(environ, start_response)
                body = list(self.moto_app(environ, start_response))
                self._refresh_outputs(environ)
                return body
        return self.moto_app(environ, start_response)

    def _check_sts(self, environ: dict[str, Any], scope: SigV4Scope | None) -> Response | None:
        """Evaluate every STS call that issues credentials, whatever its shape, or refuse it.

        The action can arrive in a form body (POST), in the query string (GET, or
        POST with the action in the URL), signed or not. moto answers all of them
        and hands out credentials for any role, so the check looks at every shape:
        AssumeRole is evaluated against the target's trust policy; the federated
        and root variants, which the embedded cloud cannot verify, are refused.
        """
        params = _request_params(environ)
        action = params.get("Action", "")
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
        caller = resolve_access_key(scope.access_key_id) if scope is not None else None
        if caller is None:
            self._record("unknown", call, allowed=False, reason="unsigned or unknown access key")
            return _sts_error(
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
                403,
            )
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

    def _custom_resource_answer(self, environ: dict[str, Any]) -> Response | None:
        """File a custom resource's answer under the stack's own account."""
        stack_id = parse_qs(str(environ.get("QUERY_STRING", ""))).get("stack", [""])[0]
        parts = stack_id.split(":")
        if len(parts) < 6:
            return None
        region, account_id = parts[3], parts[4]
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = account_id
        try:
            answer = json.loads(_read_body(environ) or b"{}")
        except ValueError:
            return None
        if answer.get("Status") != "FAILED":
            return None
        from moto.cloudformation.models import cloudformation_backends

        stack = cloudformation_backends[account_id][region].get_stack(stack_id)
        reason = (
            f"Received response status [FAILED] from custom resource. Message returned: "
            f"{answer.get('Reason', '')}"
        )
        stack._add_stack_event("CREATE_FAILED", resource_status_reason=reason)
        stack.status = "ROLLBACK_COMPLETE"
        stack._add_stack_event("ROLLBACK_COMPLETE", resource_status_reason=reason)
        return Response("{}", content_type="application/json")

    @staticmethod
    def _refresh_outputs(environ: dict[str, Any]) -> None:
        """Re-read a stack's outputs once a custom resource has answered.

        moto caches each output the first time it is read; one read while the
        custom resource was pending (the CDK CLI polls) would stay empty forever.
        """
        from moto.cloudformation.models import cloudformation_backends

        stack_id = parse_qs(str(environ.get("QUERY_STRING", ""))).get("stack", [""])[0]
        parts = stack_id.split(":")
        if len(parts) < 6:
            return
        try:
            stack = cloudformation_backends[parts[4]][parts[3]].get_stack(stack_id)
        except Exception:
            return
        stack.output_map = stack._create_output_map()

    def _admin(self, request: Request, subpath: str) -> Response:
        if subpath == "health":
            return Response(
                json.dumps({"status": "ok", "pid": os.getpid(), "port": self._port()}),
                content_type="application/json",
            )
        if subpath.startswith("bedrock/"):
            return self.bedrock.handle_admin(request, subpath.removeprefix("bedrock/"))
        if subpath == "sts/assume-role":
            with self._lock:
                decisions = [d.__dict__ for d in self.assume_role_decisions]
            return Response(json.dumps({"decisions": decisions}), content_type="application/json")
        return Response(
            json.dumps({"message": "not found"}), status=404, content_type="application/json"
        )


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
        self.app = EmbeddedApp(moto_app, self.bedrock, lambda: self.port)
        self._server = NoDelayServer(
            HOST, self._requested_port, self.app, handler=_QuietRequestHandler
        )
        # moto builds custom resources' ResponseURL from MOTO_PORT.
        self._previous_moto_port = os.environ.get("MOTO_PORT")
        os.environ["MOTO_PORT"] = str(self.port)
        self.lambda_runner = LambdaRunner(self.endpoint_url, warm=self._warm_lambdas)
        undo_executor = install_moto_executor(self.lambda_runner)
        undoers = [
            install_custom_resource_type(
                {APPLICATION_INFERENCE_PROFILE_TYPE: application_profile_model(self.bedrock)}
            ),
            install_change_set_readiness(),
            install_docker_host(),
        ]

        def uninstall() -> None:
            undo_executor()
            for undo in undoers:
                undo()

        self._uninstall = uninstall
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
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
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

    def add_account(self, account_id: str) -> AccountCredentials:
        """Create another account (its deployer user) in the running cloud."""
        if account_id not in self._credentials:
            self._credentials[account_id] = self._create_deployer(account_id)
            self.account_ids.append(account_id)
        return self._credentials[account_id]

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
