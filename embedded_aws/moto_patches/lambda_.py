"""What moto's Lambda gets wrong for the embedded cloud, and the fixes.

moto (pinned 5.2.5) runs function code only in Docker, and its model of a
function misses what the deployed stacks rely on. On ``moto.awslambda``:

* ``LambdaFunction._invoke_lambda(event) -> (payload, errored, logs)``, moto's
  Docker executor, runs the deployed package in the local runner
  (``embedded_aws.lambda_runner``) instead. It is called by ``invoke`` for
  ``lambda.invoke`` (the function, a version or an alias) and by CloudFormation
  custom resources (``moto/cloudformation/custom_model.py``, on a thread). The
  output is delivered to the function's log group (``embedded_aws.lambda_logs``),
  and a crashed custom resource answers FAILED at once.
* ``LambdaFunction.invoke`` reports an exception as ``X-Amz-Function-Error:
  Unhandled`` as Lambda does (moto says "Handled"), its ``Tail`` log is the
  last 4 KB, as on AWS, and it answers ``X-Amz-Executed-Version``, which moto
  omits: the version that ran, ``$LATEST`` or the number an alias points at.
* ``LambdaResponse.invoke`` reads the ``Qualifier`` the SDK sends (moto looks
  for ``qualifier`` and would run ``$LATEST``).
* Function creation and updates (API and CloudFormation) keep ``LoggingConfig``
  and ``SnapStart``, which moto drops, and ``get_configuration`` returns them.
* ``AWS::Lambda::Function`` keeps its ``TracingConfig``, which moto's
  CloudFormation drops, and a stack update applies ``TracingConfig`` and
  ``ReservedConcurrentExecutions`` as CloudFormation does (a property removed
  from the template goes back to ``PassThrough``, or deletes the reservation);
  moto's update ignores both. ``UpdateFunctionConfiguration`` honours
  ``TracingConfig`` too.
* ``AWS::Lambda::Version`` answers ``Ref`` (its ARN) and ``GetAtt
  Version``/``FunctionArn``, which moto cannot, and on a stack update is
  published from the function's *new* configuration: CloudFormation orders an
  update by dependency, moto adds new resources before it modifies changed ones.
* ``AWS::Lambda::Alias``, which moto's CloudFormation skips, gets a model on
  moto's own Lambda aliases.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Mapping
from typing import Any
from unittest import mock

from moto.awslambda.exceptions import UnknownFunctionException
from moto.awslambda.models import LambdaFunction, LambdaVersion, lambda_backends
from moto.awslambda.responses import LambdaResponse
from moto.cloudformation import parsing
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.cloudformation.models import cloudformation_backends
from moto.core.common_models import CloudFormationModel

from embedded_aws.lambda_function import LATEST, FunctionSpec
from embedded_aws.lambda_logs import deliver_logs
from embedded_aws.lambda_runner import LambdaRunner
from embedded_aws.moto_patches.cloudformation import (
    is_custom_resource_event,
    post_custom_resource_failure,
    with_local_response_url,
)

_LOG_TAIL_BYTES = 4096
ALIAS_TYPE = "AWS::Lambda::Alias"
# Where the patches keep what moto's LambdaFunction drops.
_LOGGING_CONFIG = "embedded_logging_config"
_SNAP_START = "embedded_snap_start"

_original_init = LambdaFunction.__init__
_original_cfn_create = LambdaFunction.create_from_cloudformation_json
_original_cfn_update = LambdaFunction.update_from_cloudformation_json
_original_update_configuration = LambdaFunction.update_configuration
_original_get_configuration = LambdaFunction.get_configuration
_original_invoke_response = LambdaResponse.invoke


def install(runner: LambdaRunner) -> Callable[[], None]:
    """Make moto run Lambda code through ``runner``; returns a function that undoes it."""

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        if isinstance(event, str):
            event = json.loads(event) if event else {}
        event = with_local_response_url(event if event is not None else {})
        invocation = runner.invoke(function_spec(self), event)
        deliver_logs(self.logs_backend, invocation)
        if invocation.function_error and is_custom_resource_event(event):
            post_custom_resource_failure(event, invocation.payload.decode(errors="replace"))
        return invocation.payload.decode(), invocation.function_error is not None, invocation.log

    patches = contextlib.ExitStack()
    # unittest.mock's patchers restore an attribute, own or inherited, on exit.
    for owner, name, value in (
        (LambdaResponse, "invoke", _invoke_response_with_qualifier),
        (LambdaFunction, "_invoke_lambda", _invoke_lambda),
        (LambdaFunction, "invoke", _invoke_unhandled),
        (LambdaFunction, "__init__", _init_keeping_config),
        (LambdaFunction, "create_from_cloudformation_json", classmethod(_cfn_create)),
        (LambdaFunction, "update_from_cloudformation_json", classmethod(_cfn_update)),
        (LambdaFunction, "update_configuration", _update_configuration),
        (LambdaFunction, "get_configuration", _get_configuration),
        (LambdaVersion, "create_from_cloudformation_json", classmethod(_version_create)),
        (LambdaVersion, "has_cfn_attr", classmethod(_version_has_attr)),
        (LambdaVersion, "get_cfn_attribute", _version_attribute),
        # Ref of a version is its ARN.
        (LambdaVersion, "physical_resource_id", property(lambda self: self.function_arn)),
    ):
        patches.enter_context(mock.patch.object(owner, name, value, create=True))
    # get_model_map is lru_cache'd: this dict is the one parsing reads.
    patches.enter_context(mock.patch.dict(parsing.get_model_map(), {ALIAS_TYPE: _alias_model()}))
    return patches.close


def function_spec(fn: Any) -> FunctionSpec:
    """Read a ``moto.awslambda.models.LambdaFunction`` (``$LATEST`` or a version).

    ``LoggingConfig`` and ``SnapStart`` are the ones these patches keep on the
    function (moto itself drops them).
    """
    logging_config = dict(getattr(fn, _LOGGING_CONFIG, None) or {})
    version = str(fn.version)
    snap_start = dict(getattr(fn, _SNAP_START, None) or {})
    return FunctionSpec(
        account_id=str(fn.account_id),
        region=str(fn.region),
        function_name=str(fn.function_name),
        function_arn=str(fn.function_arn),
        handler=str(fn.handler),
        runtime=str(fn.run_time),
        role_arn=str(fn.role),
        code_zip=bytes(getattr(fn, "code_bytes", b"") or b""),
        environment={str(k): str(v) for k, v in (fn.environment_vars or {}).items()},
        timeout_seconds=float(fn.timeout or 3),
        memory_mb=int(fn.memory_size or 128),
        version=version,
        log_group=logging_config.get("LogGroup") or None,
        log_format=str(logging_config.get("LogFormat") or "Text"),
        application_log_level=str(logging_config.get("ApplicationLogLevel") or "INFO"),
        system_log_level=str(logging_config.get("SystemLogLevel") or "INFO"),
        snap_start=version != LATEST and snap_start.get("ApplyOn") == "PublishedVersions",
    )


# -- invoke ------------------------------------------------------------------------------


def _invoke_response_with_qualifier(self: Any) -> Any:
    qualifier = self.querystring.get("Qualifier")
    if qualifier:
        self.querystring.setdefault("qualifier", qualifier)
    return _original_invoke_response(self)


def _invoke_unhandled(self: Any, body: str, request_headers: Any, response_headers: Any) -> bytes:
    event = json.loads(body) if body else {}
    payload, errored, logs = self._invoke_lambda(event=event)
    if errored:
        response_headers["x-amz-function-error"] = "Unhandled"
    # moto resolves an alias to its version's function before calling this.
    response_headers["x-amz-executed-version"] = str(self.version)
    tail = logs.encode("utf-8")[-_LOG_TAIL_BYTES:]
    response_headers["x-amz-log-result"] = base64.b64encode(tail).decode()
    return str(payload).encode("utf-8")


# -- LoggingConfig and SnapStart ---------------------------------------------------------


def _keep_config(fn: Any, properties: Mapping[str, Any], *, only_present: bool = False) -> None:
    """Keep ``LoggingConfig`` and ``SnapStart`` of a create or update on the function."""
    for key, attribute in (("LoggingConfig", _LOGGING_CONFIG), ("SnapStart", _SNAP_START)):
        if key in properties or not only_present:
            value = properties.get(key)
            setattr(fn, attribute, dict(value) if isinstance(value, Mapping) else None)


def _init_keeping_config(
    self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kw: Any
) -> None:
    _original_init(self, account_id, spec, *args, **kw)
    _keep_config(self, spec)


def _cfn_create(
    cls: Any,
    /,
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Any:
    fn = _original_cfn_create(resource_name, cloudformation_json, account_id, region_name, **kwargs)
    _keep_config(fn, cloudformation_json["Properties"])
    _apply_stack_properties(fn, cloudformation_json["Properties"])
    return fn


def _cfn_update(
    cls: Any,
    /,
    original_resource: Any,
    new_resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
) -> Any:
    fn = _original_cfn_update(
        original_resource, new_resource_name, cloudformation_json, account_id, region_name
    )
    _keep_config(fn, cloudformation_json["Properties"])
    _apply_stack_properties(fn, cloudformation_json["Properties"])
    return fn


def _apply_stack_properties(fn: Any, properties: Mapping[str, Any]) -> None:
    """The template's tracing and reserved concurrency, present or not, as CloudFormation
    sets them: an absent ``TracingConfig`` is ``PassThrough``, an absent reservation none."""
    tracing = properties.get("TracingConfig")
    fn.tracing_config = dict(tracing) if isinstance(tracing, Mapping) else {"Mode": "PassThrough"}
    reserved = properties.get("ReservedConcurrentExecutions")
    fn.reserved_concurrency = None if reserved is None else int(reserved)


def _update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
    _keep_config(self, config_updates, only_present=True)
    tracing = config_updates.get("TracingConfig")
    if isinstance(tracing, Mapping):
        self.tracing_config = {"Mode": str(tracing.get("Mode") or "PassThrough")}
    return _original_update_configuration(self, config_updates)


def _get_configuration(self: Any, on_create: bool = False) -> dict[str, Any]:
    config = _original_get_configuration(self, on_create)
    logging_config = getattr(self, _LOGGING_CONFIG, None) or {}
    config["LoggingConfig"] = {
        "LogFormat": "Text",
        "LogGroup": f"/aws/lambda/{self.function_name}",
        **logging_config,
    }
    apply_on = (getattr(self, _SNAP_START, None) or {}).get("ApplyOn", "None")
    on = apply_on == "PublishedVersions" and str(self.version) != LATEST
    config["SnapStart"] = {"ApplyOn": apply_on, "OptimizationStatus": "On" if on else "Off"}
    return config


# -- AWS::Lambda::Version ----------------------------------------------------------------


def _version_create(
    cls: Any,
    /,
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Any:
    properties = cloudformation_json["Properties"]
    function_name = str(properties["FunctionName"])
    _update_function_first(kwargs.get("StackId"), function_name, account_id, region_name)
    published = lambda_backends[account_id][region_name].publish_version(
        function_name, properties.get("Description", "")
    )
    if published is None:
        raise ValueError(f"no function {function_name} to publish a version of")
    version = LambdaVersion({"Version": published.version})  # type: ignore[abstract]
    version.function_arn = published.function_arn  # type: ignore[attr-defined]
    return version


def _version_has_attr(cls: Any, attr: str) -> bool:
    return attr in {"Version", "FunctionArn"}


def _version_attribute(self: Any, attribute_name: str) -> Any:
    if attribute_name == "Version":
        return str(self.version)
    if attribute_name == "FunctionArn":
        return self.function_arn
    raise UnformattedGetAttTemplateException()


def _update_function_first(
    stack_id: str | None, function_name: str, account_id: str, region: str
) -> None:
    """Apply a stack update's change to ``function_name`` now, before its version is published.

    CloudFormation orders a stack update by dependency: the function changes,
    then the new ``AWS::Lambda::Version`` publishes it, then the alias moves.
    moto adds new resources before it modifies changed ones, so the version
    would be published from the old configuration. Applying the function's new
    properties first (moto applies them again in its modify pass: idempotent)
    restores CloudFormation's order. Reads moto's ``ResourceMap`` internals.
    """
    if not stack_id:
        return
    try:
        stack = cloudformation_backends[account_id][region].get_stack(stack_id)
    except Exception:
        return
    own_events = [e.resource_status for e in stack.events if e.logical_resource_id == stack.name]
    if not own_events or own_events[-1] != "UPDATE_IN_PROGRESS":
        return  # being created: moto creates in dependency order
    resource_map = stack.resource_map
    for logical_id, resource in list(resource_map._parsed_resources.items()):
        if isinstance(resource, LambdaFunction) and resource.function_name == function_name:
            template = resource_map._resource_json_map.get(logical_id)
            if template is not None:
                parsing.parse_and_update_resource(
                    logical_id, template, resource_map, account_id, region
                )


# -- AWS::Lambda::Alias ------------------------------------------------------------------


def _alias_model() -> type[Any]:
    """The alias model as a ``CloudFormationModel``, made only while the patches are on.

    moto lists every ``CloudFormationModel`` subclass in existence as a resource
    type; made here, the alias is one only for the embedded cloud that installs it.
    """

    class CloudFormationLambdaAlias(LambdaAliasResource, CloudFormationModel):
        pass

    return CloudFormationLambdaAlias


class LambdaAliasResource:
    """An alias created, moved and deleted by a stack, on moto's own Lambda aliases."""

    def __init__(self, alias: Any, function_name: str) -> None:
        self.alias = alias
        self.function_name = function_name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return ALIAS_TYPE

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "AliasArn"

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "AliasArn":
            return self.alias.arn
        raise UnformattedGetAttTemplateException()

    @property
    def physical_resource_id(self) -> str:
        return str(self.alias.arn)  # Ref returns the alias ARN

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> LambdaAliasResource:
        properties = cloudformation_json["Properties"]
        function_name = str(properties["FunctionName"])
        alias = lambda_backends[account_id][region_name].create_alias(
            name=properties["Name"],
            function_name=function_name,
            function_version=str(properties["FunctionVersion"]),
            description=properties.get("Description", ""),
            routing_config=properties.get("RoutingConfig"),
        )
        return cls(alias, function_name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: LambdaAliasResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> LambdaAliasResource:
        properties = cloudformation_json["Properties"]
        function_name = str(properties["FunctionName"])
        if (properties["Name"], function_name) != (
            original_resource.alias.name,
            original_resource.function_name,
        ):
            original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
        alias = lambda_backends[account_id][region_name].update_alias(
            name=properties["Name"],
            function_name=function_name,
            function_version=str(properties["FunctionVersion"]),
            description=properties.get("Description", ""),
            routing_config=properties.get("RoutingConfig"),
        )
        return cls(alias, function_name)

    def delete(self, account_id: str, region_name: str) -> None:
        # The stack may delete the function first: its aliases went with it.
        with contextlib.suppress(UnknownFunctionException):
            lambda_backends[account_id][region_name].delete_alias(
                self.alias.name, self.function_name
            )

    def is_created(self) -> bool:
        return True
