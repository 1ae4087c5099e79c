"""The embedded cloud as a long-lived background process, for the CLI and the demo.

``serve`` runs an ``EmbeddedCloud`` in the foreground until SIGTERM/SIGINT and
writes ``<state-dir>/state.json`` (pid, port, endpoint and every account's
deployer keys; mode 0600). ``up`` starts ``serve`` detached and waits for the
state file; ``down`` stops it by pid; ``status`` reports it. ``RunningCloud``
reads the state file and offers the same account helpers as ``EmbeddedCloud``
plus the Bedrock call log and fault injection over the admin endpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from embedded_aws.aws_config import AwsConfigFiles, write_aws_config
from embedded_aws.cloud import AccountCredentials, EmbeddedCloud
from embedded_aws.lambda_runner import CDK_CONTEXT

STATE_FILE = "state.json"
# The AWS config and credentials files with a profile per account (aws_config).
AWS_CONFIG_DIR = "aws"
LOG_FILE = "server.log"
DEFAULT_STATE_DIR = Path(".local-cloud")


class CloudNotRunning(RuntimeError):
    """No embedded cloud is running for the given state directory."""


def _pid_alive(pid: int) -> bool:
    # Reap it if it is our own child (``up`` in a long-lived process), so an
    # exited server does not linger as a zombie that still "exists".
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_state(state_dir: Path, state: dict[str, Any]) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / f".{STATE_FILE}.{os.getpid()}"
    # The file holds secret keys (of a local emulator, but still): owner only.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=2)
    tmp.replace(state_dir / STATE_FILE)


def serve(
    state_dir: Path = DEFAULT_STATE_DIR,
    *,
    registry: Path | None = None,
    accounts: list[str] | None = None,
    port: int = 0,
    ready: threading.Event | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run the cloud until SIGTERM/SIGINT (or ``stop`` is set); keep the state file current."""
    state_dir = Path(state_dir)
    cloud = (
        EmbeddedCloud.from_registry(registry, accounts=accounts or [], port=port)
        if registry
        else EmbeddedCloud(accounts=accounts or [], port=port)
    )
    stop = stop or threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    with cloud:
        files = write_aws_config(
            state_dir / AWS_CONFIG_DIR,
            endpoint_url=cloud.endpoint_url,
            region=cloud.region,
            accounts={a: cloud.credentials(a) for a in cloud.account_ids},
        )
        _write_state(
            state_dir,
            {
                **cloud.state(),
                "aws_config": {"config": str(files.config), "credentials": str(files.credentials)},
            },
        )
        print(f"embedded cloud listening on {cloud.endpoint_url} (pid {os.getpid()})", flush=True)
        if ready is not None:
            ready.set()
        try:
            while not stop.wait(0.5):
                pass
        finally:
            state_file = state_dir / STATE_FILE
            if _read_state(state_dir).get("pid") == os.getpid():
                state_file.unlink(missing_ok=True)
    print("embedded cloud stopped", flush=True)


def _read_state(state_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((Path(state_dir) / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _healthy(endpoint_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint_url}/_embedded/health", timeout=2) as response:
            return bool(json.load(response).get("status") == "ok")
    except (OSError, ValueError):
        return False


def status(state_dir: Path = DEFAULT_STATE_DIR) -> dict[str, Any] | None:
    """The running cloud's state, or None when none answers for this state dir."""
    state = _read_state(state_dir)
    pid, endpoint = state.get("pid"), state.get("endpoint_url")
    if not isinstance(pid, int) or not isinstance(endpoint, str) or not _pid_alive(pid):
        return None
    return state if _healthy(endpoint) else None


def up(
    state_dir: Path = DEFAULT_STATE_DIR,
    *,
    registry: Path | None = None,
    accounts: list[str] | None = None,
    port: int = 0,
    timeout: float = 60,
) -> dict[str, Any]:
    """Start ``serve`` in the background (unless one is running); return its state."""
    state_dir = Path(state_dir).resolve()
    running = status(state_dir)
    if running is not None:
        return running
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    if port:
        _wait_until_free(port, timeout)
    command = [
        sys.executable,
        "-m",
        "embedded_aws",
        "serve",
        "--state-dir",
        str(state_dir),
        "--port",
        str(port),
    ]
    if registry is not None:
        command += ["--registry", str(Path(registry).resolve())]
    for account in accounts or []:
        command += ["--account", account]
    with open(state_dir / LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the shell that ran `up`
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log_lines = (state_dir / LOG_FILE).read_text(errors="replace").splitlines()
            raise RuntimeError(
                f"the embedded cloud exited with {process.returncode}; see {state_dir / LOG_FILE}"
                + "".join(f"\n  {line}" for line in log_lines[-5:])
            )
        state = _read_state(state_dir)
        if state.get("pid") == process.pid and _healthy(str(state.get("endpoint_url"))):
            return state
        time.sleep(0.1)
    process.terminate()
    process.wait(10)
    raise TimeoutError(f"the embedded cloud did not start within {timeout:.0f}s")


def _wait_until_free(port: int, timeout: float) -> None:
    """Wait for a port the previous cloud held: a restart on the same port (``tenantctl
    local deploy``) must not race the old process's exit or its lingering children."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("localhost", port))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"port {port} is still in use; stop what holds it") from None
        time.sleep(0.2)


def down(state_dir: Path = DEFAULT_STATE_DIR, *, timeout: float = 15) -> bool:
    """Stop the background cloud by pid; True if one was stopped."""
    state = _read_state(state_dir)
    pid = state.get("pid")
    if not isinstance(pid, int) or not _pid_alive(pid):
        (Path(state_dir) / STATE_FILE).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.1)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    (Path(state_dir) / STATE_FILE).unlink(missing_ok=True)
    return True


@dataclass(frozen=True)
class RunningCloud:
    """A client's view of a background cloud, read from its state file."""

    endpoint_url: str
    region: str
    pid: int
    accounts: dict[str, AccountCredentials]
    aws_config: AwsConfigFiles
    cdk_context: Mapping[str, str] = field(default_factory=lambda: dict(CDK_CONTEXT))

    @classmethod
    def load(cls, state_dir: Path = DEFAULT_STATE_DIR) -> RunningCloud:
        """Read the state file; raises CloudNotRunning when no cloud answers."""
        state = status(state_dir)
        if state is None:
            raise CloudNotRunning(
                f"no embedded cloud is running for {state_dir} "
                "(start one with `tenantctl local up`)"
            )
        return cls(
            endpoint_url=state["endpoint_url"],
            region=state["region"],
            pid=state["pid"],
            accounts={a: AccountCredentials(**c) for a, c in state["accounts"].items()},
            aws_config=AwsConfigFiles(
                config=Path(state["aws_config"]["config"]),
                credentials=Path(state["aws_config"]["credentials"]),
                endpoint_url=state["endpoint_url"],
            ),
        )

    def credentials(self, account_id: str) -> AccountCredentials:
        """The deployer credentials of an account."""
        return self.accounts[account_id]

    def env(self, account_id: str, region: str | None = None) -> dict[str, str]:
        """Environment for a subprocess acting as the account's deployer."""
        return self.accounts[account_id].env(self.endpoint_url, region or self.region)

    def _admin(self, path: str, method: str = "GET", body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.endpoint_url}/_embedded/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def bedrock_calls(self) -> list[dict[str, Any]]:
        """The Bedrock call log (dicts with the fields of ``BedrockCall``)."""
        return list(self._admin("bedrock/calls")["calls"])

    def inject_bedrock_faults(self, spec: dict[str, Any]) -> dict[str, Any]:
        """POST a fault spec: ``{"throttle": N, "latency_ms": M, "error": {...}, ...}``."""
        return dict(self._admin("bedrock/faults", "POST", spec))

    def clear_bedrock_faults(self) -> None:
        """Remove injected faults and latency."""
        self._admin("bedrock/faults", "DELETE")

    def function_role_session(self, function_arn: str) -> dict[str, str]:
        """A deployed function's environment with a fresh session of its execution role."""
        query = urllib.parse.urlencode({"function": function_arn})
        return dict(self._admin(f"lambda/role-session?{query}")["environment"])

    def assume_role_decisions(self) -> list[dict[str, Any]]:
        """Every AssumeRole decision the trust enforcement made."""
        return list(self._admin("sts/assume-role")["decisions"])

    def advance_clock(self, by: timedelta) -> datetime:
        """Move the cloud's clock (the one credentials expire by) forward; its new time."""
        state = self._admin("clock", "POST", {"advance_seconds": by.total_seconds()})
        return datetime.fromisoformat(state["now"])

    def reset_clock(self) -> None:
        """Set the cloud's clock back to real time."""
        self._admin("clock", "DELETE")
