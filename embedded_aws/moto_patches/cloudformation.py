"""What moto's CloudFormation gets wrong for CDK deployments, and the fixes.

Each fix corrects moto (pinned 5.2.5) toward CloudFormation's documented behaviour:

* **Resource types.** moto treats only ``Custom::*`` as custom resources and
  silently skips ``AWS::CloudFormation::CustomResource``, the type CDK's
  ``CustomResource`` emits by default: the backing function never ran and the
  stack still said CREATE_COMPLETE. ``AWS::CDK::Metadata``, which CDK adds to
  every stack, draws a warning per stack. Types moto has no model for at all
  (``embedded_aws.moto_patches.bedrock``, ``embedded_aws.moto_patches.lambda_``)
  are added here too.
* **Change sets.** ``execute_change_set`` marks a new stack CREATE_COMPLETE at
  once, while ``create_stack`` waits for custom resources; the CDK CLI deploys
  through change sets, so it reported success before the custom resource ran.
  It also keeps the old parsed template, so a change-set stack had no outputs,
  and a failing resource raised out of ExecuteChangeSet and left the stack in
  REVIEW_IN_PROGRESS, where no deploy could touch it again; CloudFormation rolls
  back to ROLLBACK_COMPLETE.
* **Change-set names.** On AWS a name is unique per stack; moto looks it up
  across the account, so two stacks deployed at once by the CDK CLI (both
  ``cdk-deploy-change-set``) deleted and executed each other's.
* **Listing change sets.** ListChangeSets names one stack; moto 5.2.5 lists
  every change set in the account and region, other stacks' included. Here
  only the named stack's are listed, and a stack that does not exist is
  CloudFormation's ``ValidationError``. (moto's bug:
  ``CloudFormationResponse.list_change_sets`` ignores ``StackName``.)
* **Deleting a change set that is not there.** The CDK CLI deletes its
  ``cdk-deploy-change-set`` before every update of an existing stack, and
  CloudFormation accepts that when there is none. moto 5.2.5 raises
  ``UnboundLocalError`` (an HTTP 500 the CLI cannot parse), so no changed stack
  could be redeployed; or, by name across the account, it deleted another
  stack's change set. Here a name that is not this stack's change set deletes
  nothing. (moto's bug: ``CloudFormationBackend.delete_change_set``.)
* **Describing a change set that is not there.** Before an update the CDK CLI
  asks for its change set and expects CloudFormation's ``ChangeSetNotFound``
  when there is none; moto answers ``ValidationError`` ("Stack with id
  cdk-deploy-change-set does not exist"), which the CLI takes as a failed
  deploy. So every second deploy of a changed stack failed.
* **A parameter's previous value.** Every CDK stack has ``BootstrapVersion``, an
  ``AWS::SSM::Parameter::Value<String>`` parameter whose value is an SSM path;
  an update passes it with ``UsePreviousValue``. CloudFormation keeps the path
  (and shows the resolved value beside it); moto hands the resolved value on
  ("21") and then looks it up as a path, which fails the update with an
  AttributeError. Here a stack's parameter values are its inputs, paths included.
* **Custom-resource answers.** moto files an unsigned answer under its default
  account instead of the stack's, ignores ``FAILED`` (the stack stays in
  progress), and caches each output the first time it is read, so one read
  while the CDK CLI polled a pending stack stayed empty forever.
* **The ResponseURL.** moto builds it for a Docker container
  (``host.docker.internal``, found by probing the Docker socket); the local
  runner's processes reach the cloud on localhost, and a crashed function
  answers FAILED at once instead of CloudFormation's hour of waiting.
"""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.request
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlencode

from moto import settings as moto_settings
from moto.cloudformation import parsing
from moto.cloudformation.custom_model import CustomModel
from moto.cloudformation.exceptions import CloudFormationError
from moto.cloudformation.models import CloudFormationBackend, Stack, cloudformation_backends
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult
from werkzeug.wrappers import Response

from embedded_aws.aws_request import WSGIApp, read_body, replace_body
from embedded_aws.identity import resolve_access_key

_CHANGE_SET_ACTIONS = frozenset({"DescribeChangeSet", "DeleteChangeSet", "ExecuteChangeSet"})
# Serializes "is the stack still waiting for a custom resource?" against the
# custom resource's answer, which arrives on another server thread.
_STACK_READINESS_LOCK = threading.RLock()


def install(models: Mapping[str, Any] | None = None) -> Callable[[], None]:
    """Install every CloudFormation fix; ``models`` adds resource types moto lacks
    (type -> model class). Returns a function that undoes them."""
    patches = contextlib.ExitStack()
    # unittest.mock's patchers restore an attribute, own or inherited, on exit.
    patches.enter_context(
        mock.patch.object(parsing, "resource_class_from_type", _resource_class_lookup(models))
    )
    patches.enter_context(
        mock.patch.object(
            CloudFormationBackend, "execute_change_set", _execute_change_set_when_ready
        )
    )
    patches.enter_context(
        mock.patch.object(CloudFormationBackend, "delete_change_set", _delete_change_set_if_any)
    )
    patches.enter_context(
        mock.patch.object(
            CloudFormationBackend, "describe_change_set", _describe_change_set_or_not_found
        )
    )
    patches.enter_context(
        mock.patch.object(
            CloudFormationResponse, "list_change_sets", _list_the_named_stacks_change_sets
        )
    )
    patches.enter_context(
        mock.patch.object(Stack, "stack_parameters", property(_parameter_values_as_given))
    )
    patches.enter_context(
        # moto would probe the Docker socket for the host (printing a warning when
        # there is none); the runner rewrites this host to localhost anyway.
        mock.patch.object(moto_settings, "moto_server_host", lambda: "http://host.docker.internal")
    )
    # CDK adds AWS::CDK::Metadata to every stack; moto warns for each one.
    warnings.filterwarnings("ignore", message="Tried to parse AWS::CDK::Metadata")
    return patches.close


def _resource_class_lookup(models: Mapping[str, Any] | None) -> Callable[[str], Any]:
    """``parsing.resource_class_from_type`` that knows the generic custom resource type."""
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

    return resource_class_from_type


_original_execute_change_set = CloudFormationBackend.execute_change_set


def _execute_change_set_when_ready(
    self: Any, change_set_name: str, stack_name: str | None = None
) -> None:
    """Keep a stack created through a change set in progress until custom resources answer.

    After moto's method, a CREATE whose custom resources have not all answered
    goes back to CREATE_IN_PROGRESS (its premature CREATE_COMPLETE event
    removed); the answer then completes it as with ``create_stack``. Updates
    keep moto's behaviour.
    """
    with _STACK_READINESS_LOCK:
        change_set = self.change_sets.get(change_set_name) or next(
            (c for c in self.change_sets.values() if c.change_set_name == change_set_name), None
        )
        try:
            _original_execute_change_set(self, change_set_name, stack_name)
        except Exception as error:
            if change_set is None or change_set.change_set_type != "CREATE":
                raise
            roll_back_failed_create(self.stacks[change_set.stack_id], error)
            change_set.execution_status = "EXECUTE_FAILED"
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


def _delete_change_set_if_any(self: Any, change_set_name: str) -> None:
    """Delete the change set ``scope_change_set_to_its_stack`` resolved to an ARN, if any.

    A name left unresolved has no change set in the named stack: nothing to delete,
    and never another stack's change set of the same name.
    """
    self.change_sets.pop(change_set_name, None)


class ChangeSetNotFound(CloudFormationError):
    """CloudFormation's answer for a change set that does not exist (moto has none)."""

    code = "ChangeSetNotFound"


def _describe_change_set_or_not_found(self: Any, change_set_name: str) -> Any:
    """The change set ``scope_change_set_to_its_stack`` resolved to an ARN, else
    ``ChangeSetNotFound`` as on AWS (never another stack's change set of that name)."""
    change_set = self.change_sets.get(change_set_name)
    if change_set is None:
        raise ChangeSetNotFound(f"ChangeSet [{change_set_name}] does not exist")
    return change_set


def _list_the_named_stacks_change_sets(self: Any) -> ActionResult:
    """ListChangeSets as CloudFormation answers it: the change sets of ``StackName`` only."""
    backend = self.cloudformation_backend
    stack = backend.get_stack(self._get_param("StackName"))  # ValidationError when missing
    change_sets = [c for c in backend.list_change_sets() if c.stack_id == stack.stack_id]
    return ActionResult({"Summaries": change_sets})


def _parameter_values_as_given(stack: Any) -> dict[str, Any]:
    """A stack's parameter values as CloudFormation keeps them: an SSM-typed one is its path."""
    values = dict(stack.resource_map.resolved_parameters)
    slots = stack.resource_map._template.get("Parameters", {})
    for key, slot in slots.items():
        if str(slot.get("Type", "")).startswith("AWS::SSM::Parameter::"):
            values[key] = stack.resource_map.input_parameters.get(key, slot.get("Default"))
    return values


def roll_back_failed_create(stack: Any, error: Exception) -> None:
    """What CloudFormation does when a new stack's resource fails: roll back, then wait.

    The failure shows in the stack events, the resources created so far are
    deleted (those with ``DeletionPolicy: Retain`` kept) and the stack ends in
    ROLLBACK_COMPLETE, which the CDK CLI deletes and creates anew on the next deploy.
    """
    reason = f"{type(error).__name__}: {error}"[:500]
    stack._add_stack_event("CREATE_FAILED", resource_status_reason=reason)
    stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=reason)
    # moto's own deletion, which keeps DeletionPolicy Retain resources as AWS does.
    with contextlib.suppress(Exception):
        stack.resource_map.delete()
    stack._add_stack_event("ROLLBACK_COMPLETE")
    stack.status = "ROLLBACK_COMPLETE"


def scope_change_set_to_its_stack(environ: dict[str, Any], access_key_id: str, region: str) -> None:
    """Name a change set by its ARN when the request names it by stack and name.

    moto looks an ARN up exactly, so the request is rewritten to the ARN of the
    named stack's change set.
    """
    if environ.get("REQUEST_METHOD") != "POST":
        return
    body = read_body(environ)
    form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    action = form.get("Action", [""])[0]
    name = form.get("ChangeSetName", [""])[0]
    stack = form.get("StackName", [""])[0]
    if action not in _CHANGE_SET_ACTIONS or not name or not stack or name.startswith("arn:"):
        return
    caller = resolve_access_key(access_key_id)
    if caller is None:
        return
    backend = cloudformation_backends[caller.account_id][region]
    for change_set_id, change_set in list(backend.change_sets.items()):
        owner = backend.stacks.get(change_set.stack_id)
        stack_matches = stack == change_set.stack_id or (owner is not None and owner.name == stack)
        if change_set.change_set_name == name and stack_matches:
            form["ChangeSetName"] = [change_set_id]
            replace_body(environ, urlencode(form, doseq=True).encode())
            return


def is_custom_resource_answer(path: str) -> bool:
    """Whether a request is a custom resource's answer to moto's ResponseURL."""
    return path.endswith("/cfnresponse") and path.startswith("/cloudformation_")


def serve_custom_resource_answer(
    environ: dict[str, Any], start_response: Callable[..., Any], moto_app: WSGIApp
) -> Iterable[bytes]:
    """Serve an answer in the stack's own account, roll back on FAILED, refresh outputs.

    The stack ARN in the query string names the account; the outputs are
    re-read once the answer is in, since moto caches what it read while pending.
    """
    with _STACK_READINESS_LOCK:
        stack_id = parse_qs(str(environ.get("QUERY_STRING", ""))).get("stack", [""])[0]
        parts = stack_id.split(":")
        if len(parts) < 6:
            return list(moto_app(environ, start_response))
        region, account_id = parts[3], parts[4]
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = account_id
        try:
            answer = json.loads(read_body(environ) or b"{}")
        except ValueError:
            answer = {}
        if answer.get("Status") == "FAILED":
            _fail_stack(stack_id, region, account_id, str(answer.get("Reason", "")))
            return Response("{}", content_type="application/json")(environ, start_response)
        body = list(moto_app(environ, start_response))
        try:
            stack = cloudformation_backends[account_id][region].get_stack(stack_id)
        except Exception:
            return body
        stack.output_map = stack._create_output_map()
        return body


def _fail_stack(stack_id: str, region: str, account_id: str, reason: str) -> None:
    stack = cloudformation_backends[account_id][region].get_stack(stack_id)
    reason = f"Received response status [FAILED] from custom resource. Message returned: {reason}"
    stack._add_stack_event("CREATE_FAILED", resource_status_reason=reason)
    stack.status = "ROLLBACK_COMPLETE"
    stack._add_stack_event("ROLLBACK_COMPLETE", resource_status_reason=reason)


def is_custom_resource_event(event: Any) -> bool:
    """Whether a function's event is CloudFormation's custom-resource request."""
    return isinstance(event, dict) and {"RequestType", "ResponseURL", "StackId"} <= event.keys()


def with_local_response_url(event: Any) -> Any:
    """Point a custom resource's ResponseURL at the embedded cloud on localhost."""
    if isinstance(event, dict) and isinstance(event.get("ResponseURL"), str):
        url = event["ResponseURL"].replace("host.docker.internal", "localhost")
        if not url.startswith("http"):
            url = f"http://{url}"
        return {**event, "ResponseURL": url}
    return event


def post_custom_resource_failure(event: Mapping[str, Any], reason: str) -> None:
    """Answer FAILED for a custom resource whose function crashed, with its error as reason."""
    body = json.dumps(
        {
            "Status": "FAILED",
            "Reason": reason[:1000],
            "PhysicalResourceId": event.get("PhysicalResourceId") or event["LogicalResourceId"],
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": {},
        }
    ).encode()
    request = urllib.request.Request(
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""}
    )
    # If even this fails, the stack simply stays in progress, as on AWS.
    with contextlib.suppress(OSError):
        urllib.request.urlopen(request, timeout=10).close()
