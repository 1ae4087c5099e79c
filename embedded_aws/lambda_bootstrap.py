"""The Python "runtime" the local Lambda runner starts in a fresh interpreter.

It plays the role of Lambda's runtime interface client: it imports the
handler once (the init phase), then reads one invocation per stdin line and
answers each on a private result pipe, so a warm worker keeps module-level
state (cached clients, credentials) between invocations exactly as a warm
Lambda container does. Everything the function prints is its log; the platform's
own lines (START/END/REPORT, or ``platform.*`` JSON objects with
``AWS_LAMBDA_LOG_FORMAT=JSON``) are printed among them, as Lambda does.

Like Lambda's Python managed runtimes, it provides ``snapshot_restore_py``
(SnapStart's runtime hooks). With ``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``
(a published version with SnapStart) the hooks run as around a snapshot: the
before-snapshot hooks after init, in reverse order of registration, then the
after-restore hooks in order, before the first invocation. No memory is
snapshotted; what the hooks drop or refresh is what a restore would see.

This file is run as a script's source (``python -c``) with the extracted code
package as working directory; it must import nothing from the project.
"""

import datetime
import importlib
import json
import os
import sys
import time
import traceback
import types
from collections.abc import Callable
from typing import Any

TASK_ROOT = os.getcwd()
sys.path.insert(0, TASK_ROOT)


Hook = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


def _runtime_hooks_module() -> types.ModuleType:
    """``snapshot_restore_py`` as the managed runtime ships it (same four functions)."""
    module = types.ModuleType("snapshot_restore_py")
    before: list[Hook] = []
    after: list[Hook] = []

    def register(registry: list[Hook]) -> Callable[..., Any]:
        def register_hook(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            registry.append((func, args, kwargs))
            return func  # usable as a decorator

        return register_hook

    module.register_before_snapshot = register(before)  # type: ignore[attr-defined]
    module.register_after_restore = register(after)  # type: ignore[attr-defined]
    module.get_before_snapshot = lambda: before  # type: ignore[attr-defined]
    module.get_after_restore = lambda: after  # type: ignore[attr-defined]
    return module


HOOKS = _runtime_hooks_module()
sys.modules.setdefault("snapshot_restore_py", HOOKS)
JSON_LOGS = os.environ.get("AWS_LAMBDA_LOG_FORMAT", "Text").upper() == "JSON"
VERSION = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")


def _platform(text: str, event_type: str | None, record: dict[str, Any]) -> None:
    """One platform line: Lambda's text form, or its JSON form with the JSON log format
    (``event_type`` None: a line the JSON format does not have)."""
    if JSON_LOGS:
        if event_type is None:
            return
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
        line = json.dumps(
            {"time": now.replace("+00:00", "Z"), "type": event_type, "record": record}
        )
        print(line, flush=True)
    elif text:
        print(text, flush=True)


def _snapshot_and_restore() -> dict[str, Any] | None:
    """Run the runtime hooks as around a snapshot; the error of a failing hook, if any."""
    started = time.perf_counter()
    try:
        hooks = HOOKS.get_before_snapshot()
        while hooks:  # the last registered runs first
            func, args, kwargs = hooks.pop()
            func(*args, **kwargs)
        _platform("RESTORE_START", "platform.restoreStart", {"runtimeVersion": VERSION})
        for func, args, kwargs in HOOKS.get_after_restore():
            func(*args, **kwargs)
    except Exception as exc:
        traceback.print_exc()
        return _error(exc, "Runtime.SnapStartHookError")
    duration = (time.perf_counter() - started) * 1000
    _platform(
        f"RESTORE_REPORT Restore Duration: {duration:.2f} ms",
        "platform.restoreReport",
        {"status": "success", "metrics": {"durationMs": round(duration, 2)}},
    )
    return None


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
    if init_error is None and os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
        init_error = _snapshot_and_restore()
    # Init is over: the runner starts the invocation's clock only now, as Lambda
    # does (its init phase is not part of the function's timeout).
    result_pipe.write(json.dumps({"ready": True}) + "\n")
    result_pipe.flush()
    for line in sys.stdin:
        request = json.loads(line)
        request_id = request["request_id"]
        _platform(
            f"START RequestId: {request_id} Version: {VERSION}",
            "platform.start",
            {"requestId": request_id, "version": VERSION},
        )
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
        # Lambda's JSON format has no END line: platform.report closes the invocation.
        _platform(f"END RequestId: {request_id}", None, {})
        _platform(
            f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms",
            "platform.report",
            {
                "requestId": request_id,
                "metrics": {"durationMs": round(duration, 2)},
                "status": "error" if error is not None else "success",
            },
        )
        result_pipe.write(json.dumps({"payload": payload, "error": error}) + "\n")
        result_pipe.flush()


if __name__ == "__main__":
    main()
