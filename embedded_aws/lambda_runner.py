"""Run deployed Lambda functions locally, as moto's Lambda executor.

moto runs Lambda code only through Docker. The embedded cloud instead runs
the *deployed* code package of a Python function in a fresh interpreter
(``sys.executable``):

* the package comes from moto's Lambda backend (zip bytes as deployed, from
  ``ZipFile`` or from the S3 asset CDK uploaded), extracted once per SHA-256;
* the function's execution role is assumed in its account as the Lambda
  service (``lambda.amazonaws.com``), so the trust policy must name it and the
  code's AWS calls act with that role in that account;
* the environment is the function's variables plus Lambda's reserved ones
  (credentials, region, function name, ...) and ``AWS_ENDPOINT_URL`` pointing
  at the embedded cloud; the host's AWS config files are hidden;
* results follow ``lambda.invoke``: the handler's JSON, or ``FunctionError:
  Unhandled`` with ``errorType``/``errorMessage``/``stackTrace``; timeouts give
  ``Sandbox.Timedout``;
* the output goes where Lambda sends it: the function's ``LoggingConfig.LogGroup``
  (default ``/aws/lambda/<name>``), one stream per execution environment named
  ``YYYY/MM/DD/[<version>]<guid>``, or ``YYYY/MM/DD/<name>[<version>]<guid>`` in a
  group of another name; with ``LogFormat: JSON`` the platform lines are JSON
  (``platform.start``, ``platform.report``) and a printed JSON object whose
  ``level`` is below ``ApplicationLogLevel`` is dropped, as Lambda does;
* a published version or an alias (``function:live``, ``Qualifier``) runs that
  version's code and configuration; with ``SnapStart`` on a published version,
  the runtime hooks of ``snapshot_restore_py`` run as on a restore (before-snapshot
  hooks after init, then after-restore hooks, before the first invocation);
* a worker process stays warm per function (like a Lambda container) and is
  reused by the next invocation; concurrent invocations start more workers.

``install_moto_executor(runner)`` patches the seam in moto; see its docstring.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import io
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from embedded_aws.trust import AssumeRoleDenied, assume_role_as_service

LAMBDA_SERVICE = "lambda.amazonaws.com"
# The runner executes deployed packages on this machine: a CDK app deployed here
# must bundle its functions for this host's architecture and Python.
CDK_CONTEXT = {"lambda_platform": "host"}
_BOOTSTRAP = (Path(__file__).parent / "lambda_bootstrap.py").read_text(encoding="utf-8")
# Lambda's execution-role sessions last hours; one hour is plenty locally.
_SESSION_SECONDS = 3600
_LOG_TAIL_BYTES = 4096
# How long a worker's init may take here before the invocation fails.
INIT_WAIT_SECONDS = 300.0
LATEST = "$LATEST"
# Lambda's log levels, lowest first (LoggingConfig's ApplicationLogLevel/SystemLogLevel).
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")


@dataclass(frozen=True)
class FunctionSpec:
    """What the runner needs to know about a deployed function."""

    account_id: str
    region: str
    function_name: str
    function_arn: str
    handler: str
    runtime: str
    role_arn: str
    code_zip: bytes
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float = 3.0
    memory_mb: int = 128
    version: str = LATEST
    # LoggingConfig: None is Lambda's default group, /aws/lambda/<name>.
    log_group: str | None = None
    log_format: str = "Text"
    application_log_level: str = "INFO"
    system_log_level: str = "INFO"
    # SnapStart ApplyOn PublishedVersions, on a published version.
    snap_start: bool = False

    @property
    def log_group_name(self) -> str:
        """Where Lambda sends the function's output."""
        return self.log_group or f"/aws/lambda/{self.function_name}"

    def log_stream_name(self, day: datetime.date, guid: str) -> str:
        """An execution environment's stream; named after the function in a shared group."""
        prefix = (
            ""
            if self.log_group_name == f"/aws/lambda/{self.function_name}"
            else (self.function_name)
        )
        return f"{day:%Y/%m/%d}/{prefix}[{self.version}]{guid}"

    @property
    def code_sha256(self) -> str:
        """SHA-256 of the code package: the key of the extraction cache."""
        return hashlib.sha256(self.code_zip).hexdigest()

    def fingerprint(self) -> str:
        """Changes whenever code or configuration changes (a new container is needed)."""
        config = json.dumps(
            [
                self.handler,
                self.runtime,
                self.role_arn,
                dict(self.environment),
                self.timeout_seconds,
                self.memory_mb,
                self.version,
                self.log_group,
                self.log_format,
                self.application_log_level,
                self.system_log_level,
                self.snap_start,
            ],
            sort_keys=True,
        )
        return f"{self.code_sha256}:{hashlib.sha256(config.encode()).hexdigest()}"

    @classmethod
    def from_moto(cls, fn: Any) -> FunctionSpec:
        """Read a ``moto.awslambda.models.LambdaFunction`` (``$LATEST`` or a version).

        ``LoggingConfig`` and ``SnapStart`` are the ones ``install_moto_executor``
        keeps on the function (moto itself drops them).
        """
        logging_config = dict(getattr(fn, _LOGGING_CONFIG, None) or {})
        version = str(fn.version)
        snap_start = dict(getattr(fn, _SNAP_START, None) or {})
        return cls(
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


@dataclass(frozen=True)
class LogLine:
    """One line of a function's output, as Lambda sends it to CloudWatch Logs."""

    timestamp_ms: int
    message: str


@dataclass(frozen=True)
class Invocation:
    """The outcome of one invocation, shaped like ``lambda.invoke``'s answer.

    ``log_lines`` are what Lambda delivers to ``log_group``/``log_stream`` (the
    execution environment's stream); ``log`` is all of the output, as ``Tail`` shows.
    """

    request_id: str
    payload: bytes
    function_error: str | None  # "Unhandled" or None
    log: str
    duration_ms: float
    log_group: str = ""
    log_stream: str = ""
    log_lines: tuple[LogLine, ...] = ()

    def payload_json(self) -> Any:
        """The payload parsed as JSON (None for an empty payload)."""
        return json.loads(self.payload) if self.payload else None


def _error_payload(request_id: str, error_type: str, message: str) -> bytes:
    return json.dumps(
        {"errorMessage": message, "errorType": error_type, "requestId": request_id}
    ).encode()


def _now_line(message: str) -> LogLine:
    return LogLine(int(time.time() * 1000), message)


def _rewrite_response_url(event: Any) -> Any:
    """Point a custom resource's ResponseURL at the embedded cloud.

    moto builds it for a Docker container (``host.docker.internal``); the local
    runner's processes reach the cloud on localhost instead.
    """
    if isinstance(event, dict) and isinstance(event.get("ResponseURL"), str):
        url = event["ResponseURL"].replace("host.docker.internal", "localhost")
        if not url.startswith("http"):
            url = f"http://{url}"
        return {**event, "ResponseURL": url}
    return event


def _is_custom_resource_event(event: Any) -> bool:
    return isinstance(event, dict) and {"RequestType", "ResponseURL", "StackId"} <= event.keys()


def _json_object(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _is_report(line: str, request_id: str) -> bool:
    """Whether ``line`` is the platform's report of ``request_id`` (text or JSON)."""
    if line.startswith(f"REPORT RequestId: {request_id}"):
        return True
    value = _json_object(line)
    return (
        value is not None
        and value.get("type") == "platform.report"
        and (value.get("record") or {}).get("requestId") == request_id
    )


def _is_platform_line(line: str) -> bool:
    if line.startswith(("START RequestId:", "END RequestId:", "REPORT RequestId:", "RESTORE_")):
        return True
    value = _json_object(line)
    return value is not None and str(value.get("type", "")).startswith("platform.")


def _level_rank(level: Any) -> int | None:
    name = str(level).upper() if isinstance(level, str) else ""
    name = "WARN" if name == "WARNING" else name
    return LOG_LEVELS.index(name) if name in LOG_LEVELS else None


def delivered(spec: FunctionSpec, line: str) -> bool:
    """Whether Lambda sends ``line`` to CloudWatch Logs under the function's LoggingConfig.

    Levels apply with the JSON format only: platform lines are INFO and kept
    while SystemLogLevel is INFO or lower; a JSON object with a valid ``level``
    below ApplicationLogLevel is dropped (one without a valid level counts as INFO).
    """
    if spec.log_format.upper() != "JSON":
        return True
    info = LOG_LEVELS.index("INFO")
    if _is_platform_line(line):
        return info >= (_level_rank(spec.system_log_level) or info)
    value = _json_object(line)
    rank = _level_rank(value.get("level")) if value is not None else None
    return (info if rank is None else rank) >= (_level_rank(spec.application_log_level) or info)


class _Worker:
    """One warm "container": a Python process running the bootstrap loop."""

    def __init__(
        self, spec: FunctionSpec, code_dir: Path, env: dict[str, str], log_stream: str
    ) -> None:
        self.spec = spec
        self.log_stream = log_stream
        read_fd, write_fd = os.pipe()
        env = {**env, "_EMBEDDED_RESULT_FD": str(write_fd)}
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-c", _BOOTSTRAP],
            cwd=code_dir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(write_fd,),
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        os.close(write_fd)
        self._results: IO[str] = os.fdopen(read_fd, "r", encoding="utf-8")
        self._events: queue.Queue[tuple[str, str | None, int]] = queue.Queue()
        self._initialised = False
        assert self.process.stdout is not None
        self._threads = [
            threading.Thread(target=self._pump, args=("log", self.process.stdout), daemon=True),
            threading.Thread(target=self._pump, args=("result", self._results), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _pump(self, kind: str, stream: IO[str]) -> None:
        try:
            for line in stream:
                # Stamped when read, as Lambda stamps each line it captures.
                self._events.put((kind, line.rstrip("\n"), int(time.time() * 1000)))
        except (OSError, ValueError):
            pass  # the stream was closed under us: the worker is being stopped
        self._events.put((f"{kind}-eof", None, 0))

    def alive(self) -> bool:
        return self.process.poll() is None

    def _wait_for_init(self) -> tuple[bool, list[LogLine]]:
        """Wait until the worker has run its init; (initialised, init's log lines).

        Lambda's init phase is not part of the invocation's timeout, so the clock
        of the first invocation starts only here. Lambda's own 10 s init limit is
        not enforced: this machine may be far slower than Lambda (16 cold starts on
        2 cores), and a slow init must not pass for a function timing out.
        """
        logs: list[LogLine] = []
        deadline = time.monotonic() + INIT_WAIT_SECONDS
        while not self._initialised:
            try:
                kind, line, stamp = self._events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return False, logs
            if kind == "log" and line is not None:
                logs.append(LogLine(stamp, line))
            elif kind == "result" and line is not None and json.loads(line).get("ready"):
                self._initialised = True
            elif kind.endswith("-eof"):
                return False, logs
        return True, logs

    def run(self, event: Any, request_id: str) -> tuple[bytes, str | None, list[LogLine], bool]:
        """One invocation: (payload, function error, log lines, worker still usable)."""
        initialised, init_logs = self._wait_for_init()
        if not initialised:
            if self.alive():
                message = (
                    f"RequestId: {request_id} Error: init did not finish "
                    f"in {INIT_WAIT_SECONDS:.0f} s"
                )
                return self._stopped(request_id, "Runtime.InitError", message, init_logs)
            return self._exited(request_id, init_logs)
        timeout = self.spec.timeout_seconds
        deadline = time.monotonic() + timeout
        request = {
            "request_id": request_id,
            "event": event,
            "deadline_ms": time.time() * 1000 + timeout * 1000,
        }
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._exited(request_id, [])
        logs: list[LogLine] = init_logs
        result: dict[str, Any] | None = None
        report_seen = False
        while result is None or not report_seen:
            remaining = deadline - time.monotonic()
            try:
                kind, line, stamp = self._events.get(timeout=max(0.0, remaining))
            except queue.Empty:
                message = (
                    f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
                )
                return self._stopped(request_id, "Sandbox.Timedout", message, logs)
            if kind == "log" and line is not None:
                logs.append(LogLine(stamp, line))
                report_seen = report_seen or _is_report(line, request_id)
            elif kind == "result" and line is not None:
                result = json.loads(line)
            elif kind.endswith("-eof"):
                if result is not None:
                    break
                return self._exited(request_id, logs)
        assert result is not None
        if result["error"] is not None:
            return json.dumps(result["error"]).encode(), "Unhandled", logs, True
        return str(result["payload"]).encode(), None, logs, True

    def _stopped(
        self, request_id: str, error_type: str, message: str, logs: list[LogLine]
    ) -> tuple[bytes, str | None, list[LogLine], bool]:
        """Stop the worker and fail the invocation with Lambda's error shape."""
        self.close()
        logs.append(_now_line(message))
        return _error_payload(request_id, error_type, message), "Unhandled", logs, False

    def _exited(
        self, request_id: str, logs: list[LogLine]
    ) -> tuple[bytes, str | None, list[LogLine], bool]:
        code = self.process.wait()
        message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}"
        logs.append(_now_line(message))
        self.close()
        return (
            _error_payload(request_id, "Runtime.ExitError", message),
            "Unhandled",
            logs,
            False,
        )

    def close(self) -> None:
        """Stop the process and its pump threads."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self._results):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=5)


class LambdaRunner:
    """Runs deployed Python functions in local subprocesses; see the module docstring.

    ``endpoint_url`` is the embedded cloud every function talks to. With
    ``warm=False`` each invocation gets a fresh process (a cold start).
    """

    def __init__(self, endpoint_url: str, *, warm: bool = True) -> None:
        self.endpoint_url = endpoint_url
        self.warm = warm
        self._code_root = Path(tempfile.mkdtemp(prefix="embedded-lambda-"))
        self._lock = threading.Lock()
        self._idle: dict[str, list[_Worker]] = {}
        self._busy: set[_Worker] = set()
        self._closed = False

    def _code_dir(self, spec: FunctionSpec) -> Path:
        target = self._code_root / spec.code_sha256
        with self._lock:
            if not target.exists():
                staging = Path(tempfile.mkdtemp(dir=self._code_root))
                with zipfile.ZipFile(io.BytesIO(spec.code_zip)) as archive:
                    for info in archive.infolist():
                        archive.extract(info, staging)
                        mode = info.external_attr >> 16
                        if mode and not info.is_dir():
                            # Keep the executable bits of bundled scripts and native libs.
                            os.chmod(staging / info.filename, mode | 0o444)
                staging.rename(target)
        return target

    def _credentials(self, spec: FunctionSpec) -> dict[str, str]:
        return assume_role_as_service(
            LAMBDA_SERVICE,
            spec.role_arn,
            session_name=spec.function_name,
            region=spec.region,
            duration_seconds=_SESSION_SECONDS,
        ).env()

    def _environment(self, spec: FunctionSpec, code_dir: Path, log_stream: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "HOME": str(self._code_root),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        env.update(spec.environment)
        # Lambda's reserved variables win over the function's own, as on AWS.
        env.update(self._credentials(spec))
        env.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_REGION": spec.region,
                "AWS_DEFAULT_REGION": spec.region,
                "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
                "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
                "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group_name,
                "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
                # The runtime's own logging follows these (Lambda's advanced controls).
                "AWS_LAMBDA_LOG_FORMAT": spec.log_format,
                "AWS_LAMBDA_LOG_LEVEL": spec.application_log_level,
                "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start" if spec.snap_start else "on-demand",
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
                "LAMBDA_TASK_ROOT": str(code_dir),
                "_HANDLER": spec.handler,
                "_EMBEDDED_FUNCTION_ARN": spec.function_arn,
                # The host's profiles and credentials must not leak into the function.
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            }
        )
        return env

    def _checkout(self, spec: FunctionSpec) -> _Worker:
        key = f"{spec.function_arn}@{spec.fingerprint()}"
        with self._lock:
            if self._closed:
                raise RuntimeError("the Lambda runner is closed")
            # A changed function gets new containers; the old ones are retired.
            for other in [k for k in self._idle if k.startswith(f"{spec.function_arn}@")]:
                if other != key:
                    for worker in self._idle.pop(other):
                        worker.close()
            idle = self._idle.get(key, [])
            while idle:
                worker = idle.pop()
                if worker.alive():
                    self._busy.add(worker)
                    return worker
                worker.close()
        code_dir = self._code_dir(spec)
        # One stream per execution environment, named the day it starts.
        log_stream = spec.log_stream_name(datetime.datetime.now(datetime.UTC), uuid.uuid4().hex)
        worker = _Worker(spec, code_dir, self._environment(spec, code_dir, log_stream), log_stream)
        with self._lock:
            self._busy.add(worker)
        return worker

    def _checkin(self, spec: FunctionSpec, worker: _Worker, usable: bool) -> None:
        key = f"{spec.function_arn}@{spec.fingerprint()}"
        with self._lock:
            self._busy.discard(worker)
            if usable and self.warm and not self._closed and worker.alive():
                self._idle.setdefault(key, []).append(worker)
                return
        worker.close()

    def invoke(self, spec: FunctionSpec, event: Any) -> Invocation:
        """Run one invocation of ``spec`` with ``event`` and wait for its result."""
        request_id = str(uuid.uuid4())
        started = time.perf_counter()
        if not spec.runtime.startswith("python"):
            message = f"The embedded Lambda runner runs Python functions only, not {spec.runtime}"
            return Invocation(
                request_id,
                _error_payload(request_id, "Runtime.Unsupported", message),
                "Unhandled",
                message,
                0.0,
            )
        try:
            worker = self._checkout(spec)
        except AssumeRoleDenied as exc:
            message = f"The role defined for the function cannot be assumed by Lambda. ({exc})"
            return Invocation(
                request_id,
                _error_payload(request_id, "AccessDeniedException", message),
                "Unhandled",
                message,
                0.0,
            )
        payload, error, lines, usable = worker.run(_rewrite_response_url(event), request_id)
        self._checkin(spec, worker, usable)
        kept = tuple(line for line in lines if delivered(spec, line.message))
        return Invocation(
            request_id,
            payload,
            error,
            "\n".join(line.message for line in kept),
            (time.perf_counter() - started) * 1000,
            log_group=spec.log_group_name,
            log_stream=worker.log_stream,
            log_lines=kept,
        )

    def close(self) -> None:
        """Stop every worker and remove extracted code."""
        with self._lock:
            self._closed = True
            workers = [w for ws in self._idle.values() for w in ws] + list(self._busy)
            self._idle.clear()
            self._busy.clear()
        for worker in workers:
            worker.close()
        shutil.rmtree(self._code_root, ignore_errors=True)


def _post_custom_resource_failure(event: Mapping[str, Any], reason: str) -> None:
    """Answer FAILED for a custom resource whose function crashed.

    CloudFormation would wait an hour for an answer that never comes; locally a
    prompt FAILED (with the function's error as reason) is more useful.
    """
    import urllib.request

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


def deliver_logs(logs_backend: Any, invocation: Invocation) -> None:
    """Put an invocation's output in its log group and stream, as Lambda's log delivery does.

    Lambda creates a missing group and the execution environment's stream; an
    empty line is not an event (CloudWatch Logs refuses empty messages).
    """
    events = [
        {"timestamp": line.timestamp_ms, "message": line.message}
        for line in invocation.log_lines
        if line.message
    ]
    if not events or not invocation.log_group:
        return
    logs_backend.ensure_log_group(invocation.log_group)
    logs_backend.ensure_log_stream(invocation.log_group, invocation.log_stream)
    logs_backend.put_log_events(invocation.log_group, invocation.log_stream, events)


# Where the seams keep what moto's LambdaFunction drops (see install_moto_executor).
_LOGGING_CONFIG = "embedded_logging_config"
_SNAP_START = "embedded_snap_start"
_MISSING = object()


def _keep_config(fn: Any, properties: Mapping[str, Any], *, only_present: bool = False) -> None:
    """Keep ``LoggingConfig`` and ``SnapStart`` of a create or update on the function."""
    for key, attribute in (("LoggingConfig", _LOGGING_CONFIG), ("SnapStart", _SNAP_START)):
        if key in properties or not only_present:
            value = properties.get(key)
            setattr(fn, attribute, dict(value) if isinstance(value, Mapping) else None)


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
    from moto.awslambda.models import LambdaFunction
    from moto.cloudformation.models import cloudformation_backends
    from moto.cloudformation.parsing import parse_and_update_resource

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
                parse_and_update_resource(logical_id, template, resource_map, account_id, region)


def _alias_model() -> type[Any]:
    """``AWS::Lambda::Alias`` for moto's CloudFormation, on moto's own Lambda aliases."""
    from moto.awslambda.models import lambda_backends
    from moto.core.common_models import CloudFormationModel

    class CloudFormationLambdaAlias(CloudFormationModel):
        """An alias created, moved and deleted by a stack (moto has no model for it)."""

        def __init__(self, alias: Any, function_name: str) -> None:
            self.alias = alias
            self.function_name = function_name

        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::Lambda::Alias"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "AliasArn"

        def get_cfn_attribute(self, attribute_name: str) -> Any:
            from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

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
        ) -> CloudFormationLambdaAlias:
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
            original_resource: CloudFormationLambdaAlias,
            new_resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> CloudFormationLambdaAlias:
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
            from moto.awslambda.exceptions import UnknownFunctionException

            # The stack may delete the function first: its aliases went with it.
            with contextlib.suppress(UnknownFunctionException):
                lambda_backends[account_id][region_name].delete_alias(
                    self.alias.name, self.function_name
                )

        def is_created(self) -> bool:
            return True

    return CloudFormationLambdaAlias


def install_moto_executor(runner: LambdaRunner) -> Callable[[], None]:
    """Make moto run Lambda code through ``runner``; returns a function that undoes it.

    Seams patched (moto pinned to 5.2.5), on ``moto.awslambda.models``:

    * ``LambdaFunction._invoke_lambda(event) -> (payload, errored, logs)``: moto's
      Docker executor, called by ``invoke`` for ``lambda.invoke`` (the function, a
      version or an alias) and by CloudFormation custom resources
      (``moto/cloudformation/custom_model.py``, on a thread); the output is
      delivered to the function's configured log group (``deliver_logs``);
    * ``LambdaFunction.invoke(body, request_headers, response_headers)``: same flow
      as moto's, but an exception is reported as ``X-Amz-Function-Error: Unhandled``
      (moto says "Handled") and the ``Tail`` log is the last 4 KB, as on AWS;
    * ``moto.awslambda.responses.LambdaResponse.invoke`` reads the ``Qualifier``
      the SDK sends (moto looks for ``qualifier`` and would run ``$LATEST``);
    * ``LambdaFunction`` creation and updates (API and CloudFormation) keep
      ``LoggingConfig`` and ``SnapStart``, which moto drops, and
      ``get_configuration`` returns them;
    * ``LambdaVersion`` (``AWS::Lambda::Version``) answers ``Ref`` and ``GetAtt
      Version``/``FunctionArn`` and is published from the function's new
      configuration on a stack update (``_update_function_first``);
    * ``AWS::Lambda::Alias``, which moto's CloudFormation skips, is added to its
      model map (``moto.cloudformation.parsing.get_model_map``).
    """
    from moto.awslambda.models import LambdaFunction, LambdaVersion, lambda_backends
    from moto.awslambda.responses import LambdaResponse
    from moto.cloudformation import parsing

    undo: list[Callable[[], None]] = []

    def patch(owner: Any, name: str, value: Any) -> None:
        original = owner.__dict__.get(name, _MISSING)
        setattr(owner, name, value)
        if original is _MISSING:
            undo.append(lambda: delattr(owner, name))
        else:
            undo.append(lambda: setattr(owner, name, original))

    original_init = LambdaFunction.__init__
    original_cfn_create = LambdaFunction.create_from_cloudformation_json
    original_cfn_update = LambdaFunction.update_from_cloudformation_json
    original_update_configuration = LambdaFunction.update_configuration
    original_get_configuration = LambdaFunction.get_configuration
    original_invoke_response = LambdaResponse.invoke

    def invoke_response(self: Any) -> Any:
        qualifier = self.querystring.get("Qualifier")
        if qualifier:
            self.querystring.setdefault("qualifier", qualifier)
        return original_invoke_response(self)

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        if isinstance(event, str):
            event = json.loads(event) if event else {}
        invocation = runner.invoke(FunctionSpec.from_moto(self), event if event is not None else {})
        deliver_logs(self.logs_backend, invocation)
        if invocation.function_error and _is_custom_resource_event(event):
            _post_custom_resource_failure(
                _rewrite_response_url(event), invocation.payload.decode(errors="replace")
            )
        return invocation.payload.decode(), invocation.function_error is not None, invocation.log

    def invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> bytes:
        event = json.loads(body) if body else {}
        payload, errored, logs = self._invoke_lambda(event=event)
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        tail = logs.encode("utf-8")[-_LOG_TAIL_BYTES:]
        response_headers["x-amz-log-result"] = base64.b64encode(tail).decode()
        return str(payload).encode("utf-8")

    def __init__(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kw: Any) -> None:
        original_init(self, account_id, spec, *args, **kw)
        _keep_config(self, spec)

    def cfn_create(
        cls: Any,
        /,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        fn = original_cfn_create(
            resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        _keep_config(fn, cloudformation_json["Properties"])
        return fn

    def cfn_update(
        cls: Any,
        /,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        fn = original_cfn_update(
            original_resource, new_resource_name, cloudformation_json, account_id, region_name
        )
        _keep_config(fn, cloudformation_json["Properties"])
        return fn

    def update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        _keep_config(self, config_updates, only_present=True)
        return original_update_configuration(self, config_updates)

    def get_configuration(self: Any, on_create: bool = False) -> dict[str, Any]:
        config = original_get_configuration(self, on_create)
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

    def version_create(
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

    def version_attribute(self: Any, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name == "Version":
            return str(self.version)
        if attribute_name == "FunctionArn":
            return self.function_arn
        raise UnformattedGetAttTemplateException()

    patch(LambdaResponse, "invoke", invoke_response)
    patch(LambdaFunction, "_invoke_lambda", _invoke_lambda)
    patch(LambdaFunction, "invoke", invoke)
    patch(LambdaFunction, "__init__", __init__)
    patch(LambdaFunction, "create_from_cloudformation_json", classmethod(cfn_create))
    patch(LambdaFunction, "update_from_cloudformation_json", classmethod(cfn_update))
    patch(LambdaFunction, "update_configuration", update_configuration)
    patch(LambdaFunction, "get_configuration", get_configuration)
    patch(LambdaVersion, "create_from_cloudformation_json", classmethod(version_create))
    patch(LambdaVersion, "get_cfn_attribute", version_attribute)
    patch(
        LambdaVersion,
        "has_cfn_attr",
        classmethod(lambda cls, attr: attr in {"Version", "FunctionArn"}),
    )
    # Ref of a version is its ARN.
    patch(LambdaVersion, "physical_resource_id", property(lambda self: self.function_arn))

    model_map = parsing.get_model_map()  # lru_cache'd: this dict is the one parsing reads
    alias_type = "AWS::Lambda::Alias"
    previous_alias_model = model_map.get(alias_type)
    model_map[alias_type] = _alias_model()

    def uninstall() -> None:
        for step in reversed(undo):
            step()
        if previous_alias_model is None:
            model_map.pop(alias_type, None)
        else:
            model_map[alias_type] = previous_alias_model

    return uninstall
