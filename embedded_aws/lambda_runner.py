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
  ``Sandbox.Timedout``; the output is written to ``/aws/lambda/<name>``;
* a worker process stays warm per function (like a Lambda container) and is
  reused by the next invocation; concurrent invocations start more workers.

``install_moto_executor(runner)`` patches the seam in moto; see its docstring.
"""

from __future__ import annotations

import base64
import contextlib
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
            ],
            sort_keys=True,
        )
        return f"{self.code_sha256}:{hashlib.sha256(config.encode()).hexdigest()}"

    @classmethod
    def from_moto(cls, fn: Any) -> FunctionSpec:
        """Read a ``moto.awslambda.models.LambdaFunction``."""
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
        )


@dataclass(frozen=True)
class Invocation:
    """The outcome of one invocation, shaped like ``lambda.invoke``'s answer."""

    request_id: str
    payload: bytes
    function_error: str | None  # "Unhandled" or None
    log: str
    duration_ms: float

    def payload_json(self) -> Any:
        """The payload parsed as JSON (None for an empty payload)."""
        return json.loads(self.payload) if self.payload else None


def _error_payload(request_id: str, error_type: str, message: str) -> bytes:
    return json.dumps(
        {"errorMessage": message, "errorType": error_type, "requestId": request_id}
    ).encode()


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


class _Worker:
    """One warm "container": a Python process running the bootstrap loop."""

    def __init__(self, spec: FunctionSpec, code_dir: Path, env: dict[str, str]) -> None:
        self.spec = spec
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
        self._events: queue.Queue[tuple[str, str | None]] = queue.Queue()
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
                self._events.put((kind, line.rstrip("\n")))
        except (OSError, ValueError):
            pass  # the stream was closed under us: the worker is being stopped
        self._events.put((f"{kind}-eof", None))

    def alive(self) -> bool:
        return self.process.poll() is None

    def run(self, event: Any, request_id: str) -> tuple[bytes, str | None, str, bool]:
        """One invocation: (payload, function error, log, worker still usable)."""
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
        logs: list[str] = []
        result: dict[str, Any] | None = None
        report_seen = False
        while result is None or not report_seen:
            remaining = deadline - time.monotonic()
            try:
                kind, line = self._events.get(timeout=max(0.0, remaining))
            except queue.Empty:
                self.close()
                message = (
                    f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
                )
                logs.append(message)
                return (
                    _error_payload(request_id, "Sandbox.Timedout", message),
                    "Unhandled",
                    ("\n".join(logs)),
                    False,
                )
            if kind == "log" and line is not None:
                logs.append(line)
                report_seen = report_seen or line.startswith(f"REPORT RequestId: {request_id}")
            elif kind == "result" and line is not None:
                result = json.loads(line)
            elif kind.endswith("-eof"):
                if result is not None:
                    break
                return self._exited(request_id, logs)
        assert result is not None
        if result["error"] is not None:
            return json.dumps(result["error"]).encode(), "Unhandled", "\n".join(logs), True
        return str(result["payload"]).encode(), None, "\n".join(logs), True

    def _exited(self, request_id: str, logs: list[str]) -> tuple[bytes, str | None, str, bool]:
        code = self.process.wait()
        message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}"
        logs.append(message)
        self.close()
        return (
            _error_payload(request_id, "Runtime.ExitError", message),
            "Unhandled",
            ("\n".join(logs)),
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

    def _environment(self, spec: FunctionSpec, code_dir: Path) -> dict[str, str]:
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
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.function_name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": f"embedded/{uuid.uuid4().hex}",
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
        worker = _Worker(spec, code_dir, self._environment(spec, code_dir))
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
        payload, error, log, usable = worker.run(_rewrite_response_url(event), request_id)
        self._checkin(spec, worker, usable)
        return Invocation(request_id, payload, error, log, (time.perf_counter() - started) * 1000)

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


def install_moto_executor(runner: LambdaRunner) -> Callable[[], None]:
    """Make moto run Lambda code through ``runner``; returns a function that undoes it.

    Seams patched on ``moto.awslambda.models.LambdaFunction`` (moto pinned to 5.2.5):

    * ``_invoke_lambda(event) -> (payload, errored, logs)``: moto's Docker
      executor, called by ``invoke`` for ``lambda.invoke`` and by CloudFormation
      custom resources (``moto/cloudformation/custom_model.py``, on a thread);
    * ``invoke(body, request_headers, response_headers)``: same flow as moto's,
      but an exception is reported as ``X-Amz-Function-Error: Unhandled`` (moto
      says "Handled") and the ``Tail`` log is the last 4 KB, as on AWS.
    """
    from moto.awslambda.models import LambdaFunction

    original_invoke_lambda = LambdaFunction._invoke_lambda
    original_invoke = LambdaFunction.invoke

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        if isinstance(event, str):
            event = json.loads(event) if event else {}
        invocation = runner.invoke(FunctionSpec.from_moto(self), event if event is not None else {})
        self.logs_backend.ensure_log_group(self.logs_group_name)
        self.save_logs(invocation.log)
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

    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]  # the seam
    LambdaFunction.invoke = invoke  # type: ignore[method-assign]  # the seam

    def uninstall() -> None:
        LambdaFunction._invoke_lambda = original_invoke_lambda  # type: ignore[method-assign]
        LambdaFunction.invoke = original_invoke  # type: ignore[method-assign]

    return uninstall
