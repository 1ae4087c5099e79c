"""The Python "runtime" the local Lambda runner starts in a fresh interpreter.

It plays the role of Lambda's runtime interface client: it imports the
handler once (the init phase), then reads one invocation per stdin line and
answers each on a private result pipe, so a warm worker keeps module-level
state (cached clients, credentials) between invocations exactly as a warm
Lambda container does. Everything the function prints is its log.

This file is run as a script's source (``python -c``) with the extracted code
package as working directory; it must import nothing from the project.
"""

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any

TASK_ROOT = os.getcwd()
sys.path.insert(0, TASK_ROOT)


class LambdaContext:
    """The subset of Lambda's context object handlers commonly use."""

    def __init__(self, request_id: str, deadline_ms: float) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ["_EMBEDDED_FUNCTION_ARN"]
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    tb = exc.__traceback__
    # Drop this runtime's own frame: Lambda's stackTrace starts in the function's code.
    if tb is not None and tb.tb_frame.f_code.co_filename == "<string>":
        tb = tb.tb_next
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_tb(tb),
    }


def _load_handler() -> tuple[Any, dict[str, Any] | None]:
    spec = os.environ["_HANDLER"]
    module_name, _, function_name = spec.rpartition(".")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except Exception as exc:
        traceback.print_exc()
        return None, _error(exc, "Runtime.ImportModuleError")
    handler = getattr(module, function_name, None)
    if handler is None:
        err = AttributeError(f"Handler '{function_name}' missing on module '{module_name}'")
        return None, _error(err, "Runtime.HandlerNotFound")
    return handler, None


def main() -> None:
    result_pipe = os.fdopen(int(os.environ["_EMBEDDED_RESULT_FD"]), "w", encoding="utf-8")
    handler, init_error = _load_handler()
    for line in sys.stdin:
        request = json.loads(line)
        request_id = request["request_id"]
        print(f"START RequestId: {request_id} Version: $LATEST", flush=True)
        started = time.perf_counter()
        if init_error is not None:
            error: dict[str, Any] | None = {**init_error, "requestId": request_id}
            payload = ""
        else:
            context = LambdaContext(request_id, request["deadline_ms"])
            try:
                payload = json.dumps(handler(request["event"], context))
                error = None
            except Exception as exc:
                # Lambda prints the unhandled error to the log as well.
                traceback.print_exc()
                error = {**_error(exc), "requestId": request_id}
                payload = ""
        duration = (time.perf_counter() - started) * 1000
        sys.stdout.flush()
        sys.stderr.flush()
        print(f"END RequestId: {request_id}", flush=True)
        print(f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms", flush=True)
        result_pipe.write(json.dumps({"payload": payload, "error": error}) + "\n")
        result_pipe.flush()


if __name__ == "__main__":
    main()
