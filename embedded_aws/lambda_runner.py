"""Run deployed Lambda functions locally, as moto's Lambda executor.

moto runs Lambda code only through Docker. The embedded cloud instead runs
the *deployed* code package of a Python function in a fresh interpreter:

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
* a published version or an alias (``function:live``, ``Qualifier``) runs that
  version's code and configuration; with ``SnapStart`` on a published version,
  the runtime hooks of ``snapshot_restore_py`` run as on a restore (before-snapshot
  hooks after init, then after-restore hooks, before the first invocation).

The rest lives beside it: the worker processes and their warm pool in
``embedded_aws.lambda_worker``, where the output goes and which lines arrive in
``embedded_aws.lambda_logs``, and the seams in moto that call ``invoke`` in
``embedded_aws.moto_patches.lambda_``.
"""

from __future__ import annotations

import datetime
import io
import os
import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

from embedded_aws.lambda_function import LATEST, FunctionSpec, Invocation, error_payload
from embedded_aws.lambda_logs import delivered, log_stream_name
from embedded_aws.lambda_worker import LambdaWorker, WorkerPool
from embedded_aws.trust import AssumeRoleDenied, assume_role_as_service

__all__ = ["CDK_CONTEXT", "LAMBDA_SERVICE", "LATEST", "FunctionSpec", "Invocation", "LambdaRunner"]

LAMBDA_SERVICE = "lambda.amazonaws.com"
# The runner executes deployed packages on this machine: a CDK app deployed here
# must bundle its functions for this host's architecture and Python.
CDK_CONTEXT = {"lambda_platform": "host"}
# Lambda's execution-role sessions last hours; one hour is plenty locally.
_SESSION_SECONDS = 3600


class LambdaRunner:
    """Runs deployed Python functions in local subprocesses; see the module docstring.

    ``endpoint_url`` is the embedded cloud every function talks to. With
    ``warm=False`` each invocation gets a fresh process (a cold start).
    """

    def __init__(self, endpoint_url: str, *, warm: bool = True) -> None:
        self.endpoint_url = endpoint_url
        self.warm = warm
        self._code_root = Path(tempfile.mkdtemp(prefix="embedded-lambda-"))
        self._code_lock = threading.Lock()
        self._workers = WorkerPool(warm=warm)

    def _code_dir(self, spec: FunctionSpec) -> Path:
        target = self._code_root / spec.code_sha256
        with self._code_lock:
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

    def role_session(self, function_arn: str) -> dict[str, str]:
        """What a deployed function's code sees of AWS: its own environment variables,
        a fresh session of its execution role (assumed as Lambda assumes it, trust
        checked), its region and the endpoint; for acting as the function by hand.

        Raises KeyError for a function that is not deployed, AssumeRoleDenied when
        Lambda could not assume its role either.
        """
        from moto.awslambda.models import lambda_backends

        from embedded_aws.moto_patches.lambda_ import function_spec

        parts = function_arn.split(":")
        if len(parts) < 7 or parts[2] != "lambda":
            raise KeyError(f"not a function ARN: {function_arn}")
        account_id, region, name = parts[4], parts[3], parts[6]
        fn = lambda_backends[account_id][region].get_function(name)
        spec = function_spec(fn)
        return {
            **spec.environment,
            **self._credentials(spec),
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
        }

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

    def _start_worker(self, spec: FunctionSpec) -> LambdaWorker:
        """A new execution environment: the code extracted, the role assumed, a stream named."""
        code_dir = self._code_dir(spec)
        # One stream per execution environment, named the day it starts.
        log_stream = log_stream_name(spec, datetime.datetime.now(datetime.UTC), uuid.uuid4().hex)
        return LambdaWorker(
            spec, code_dir, self._environment(spec, code_dir, log_stream), log_stream
        )

    def invoke(self, spec: FunctionSpec, event: Any) -> Invocation:
        """Run one invocation of ``spec`` with ``event`` and wait for its result."""
        request_id = str(uuid.uuid4())
        started = time.perf_counter()
        if not spec.runtime.startswith("python"):
            message = f"The embedded Lambda runner runs Python functions only, not {spec.runtime}"
            return Invocation(
                request_id,
                error_payload(request_id, "Runtime.Unsupported", message),
                "Unhandled",
                message,
                0.0,
            )
        try:
            worker = self._workers.checkout(spec, lambda: self._start_worker(spec))
        except AssumeRoleDenied as exc:
            message = f"The role defined for the function cannot be assumed by Lambda. ({exc})"
            return Invocation(
                request_id,
                error_payload(request_id, "AccessDeniedException", message),
                "Unhandled",
                message,
                0.0,
            )
        payload, error, lines, usable = worker.run(event, request_id)
        self._workers.checkin(spec, worker, usable)
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
        self._workers.close()
        shutil.rmtree(self._code_root, ignore_errors=True)
