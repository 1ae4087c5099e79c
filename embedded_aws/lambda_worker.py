"""The local Lambda runner's execution environments: worker processes and their pool.

A ``LambdaWorker`` is one warm "container": a fresh interpreter
(``sys.executable``) running ``embedded_aws.lambda_bootstrap`` in the extracted
code package, which imports the handler once and then answers one invocation
per stdin line on a private result pipe. Every line it prints is captured and
stamped as Lambda stamps it. A worker that times out or whose runtime exits
is stopped, as Lambda discards such an environment.

``WorkerPool`` keeps idle workers per function version and configuration and
reuses one for the next invocation; concurrent invocations start more, and a
changed function retires the old ones.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from embedded_aws.lambda_function import FunctionSpec, LogLine, error_payload
from embedded_aws.lambda_logs import is_report

_BOOTSTRAP = (Path(__file__).parent / "lambda_bootstrap.py").read_text(encoding="utf-8")
# How long a worker's init may take here before the invocation fails.
INIT_WAIT_SECONDS = 300.0

# payload, function error ("Unhandled" or None), log lines, worker still usable
WorkerResult = tuple[bytes, str | None, list[LogLine], bool]


def _now_line(message: str) -> LogLine:
    return LogLine(int(time.time() * 1000), message)


class LambdaWorker:
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
        """Whether the process is still running."""
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

    def run(self, event: Any, request_id: str) -> WorkerResult:
        """One invocation under the function's timeout: (payload, error, log lines, usable)."""
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
        return self._await_result(request_id, deadline, init_logs)

    def _await_result(self, request_id: str, deadline: float, logs: list[LogLine]) -> WorkerResult:
        """Collect the answer and the output up to the platform's report, or time out."""
        result: dict[str, Any] | None = None
        report_seen = False
        while result is None or not report_seen:
            remaining = deadline - time.monotonic()
            try:
                kind, line, stamp = self._events.get(timeout=max(0.0, remaining))
            except queue.Empty:
                timeout = self.spec.timeout_seconds
                message = (
                    f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
                )
                return self._stopped(request_id, "Sandbox.Timedout", message, logs)
            if kind == "log" and line is not None:
                logs.append(LogLine(stamp, line))
                report_seen = report_seen or is_report(line, request_id)
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
    ) -> WorkerResult:
        """Stop the worker and fail the invocation with Lambda's error shape."""
        self.close()
        logs.append(_now_line(message))
        return error_payload(request_id, error_type, message), "Unhandled", logs, False

    def _exited(self, request_id: str, logs: list[LogLine]) -> WorkerResult:
        code = self.process.wait()
        message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}"
        logs.append(_now_line(message))
        self.close()
        return (
            error_payload(request_id, "Runtime.ExitError", message),
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


class WorkerPool:
    """Idle and busy workers, keyed by function and configuration.

    With ``warm=False`` a worker is stopped after each invocation, so every
    invocation is a cold start.
    """

    def __init__(self, *, warm: bool = True) -> None:
        self.warm = warm
        self._lock = threading.Lock()
        self._idle: dict[str, list[LambdaWorker]] = {}
        self._busy: set[LambdaWorker] = set()
        self._closed = False

    @staticmethod
    def _key(spec: FunctionSpec) -> str:
        return f"{spec.function_arn}@{spec.fingerprint()}"

    def checkout(self, spec: FunctionSpec, start: Callable[[], LambdaWorker]) -> LambdaWorker:
        """A warm worker for ``spec``, or a new one from ``start`` (called outside the lock)."""
        key = self._key(spec)
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
        worker = start()
        with self._lock:
            self._busy.add(worker)
        return worker

    def checkin(self, spec: FunctionSpec, worker: LambdaWorker, usable: bool) -> None:
        """Return a worker after an invocation: kept warm if it can serve another."""
        with self._lock:
            self._busy.discard(worker)
            if usable and self.warm and not self._closed and worker.alive():
                self._idle.setdefault(self._key(spec), []).append(worker)
                return
        worker.close()

    def close(self) -> None:
        """Stop every worker; later checkouts fail."""
        with self._lock:
            self._closed = True
            workers = [w for ws in self._idle.values() for w in ws] + list(self._busy)
            self._idle.clear()
            self._busy.clear()
        for worker in workers:
            worker.close()
