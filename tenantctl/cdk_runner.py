"""The one way the product runs the real CDK CLI: ``run_cdk`` and its environment.

``tenantctl.fleet`` builds every deployment on it (``tenantctl deploy``,
``tenantctl local deploy``, the demo and the end-to-end tests). Every stack is
deployed with its own account's credentials; where those come from is the
caller's ``CloudEnv``: AWS profiles for ``tenantctl deploy``, the embedded
cloud's deployer keys otherwise, which also asks for its own CDK context
(``lambda_platform=host``).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

PROJECT_ROOT = Path(__file__).resolve().parents[1]
Progress = Callable[[str], None]


class DeployError(RuntimeError):
    """A CDK CLI command failed; carries the command and its last output lines."""

    def __init__(self, command: Sequence[str], returncode: int, tail: Sequence[str]) -> None:
        self.command = list(command)
        self.returncode = returncode
        self.tail = list(tail)
        super().__init__(
            f"`{' '.join(command)}` exited with {returncode}:\n" + "\n".join(self.tail[-25:])
        )


@dataclass(frozen=True)
class StackTarget:
    """One stack to deploy and the account/region it belongs to."""

    stack_name: str
    account_id: str
    region: str


class CloudEnv(Protocol):
    """What the runner needs from a cloud: the CLI environment of each account.

    The embedded cloud's ``EmbeddedCloud`` and ``RunningCloud`` provide both.
    """

    @property
    def cdk_context(self) -> Mapping[str, str]:
        """CDK context the app must be synthesized with for this cloud."""
        ...

    def env(self, account_id: str, region: str | None = None) -> dict[str, str]:
        """SDK environment (endpoint, keys, region) of an account's deployer."""
        ...


# Where the AWS SDKs find credentials besides explicit keys. With explicit keys
# (the embedded cloud's deployer) none of the caller's may win over them.
CREDENTIAL_SOURCES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
)


def cli_environment(
    account_env: Mapping[str, str], project_root: Path = PROJECT_ROOT
) -> dict[str, str]:
    """The CDK CLI's environment: the caller's, the account's on top, quiet Node/jsii.

    The caller's AWS configuration passes through (profiles and their files, SSO,
    environment keys, container and web-identity credentials): ``account_env``
    adds only what picks the account, such as ``AWS_PROFILE`` and the region.
    Explicit keys in ``account_env`` are the one exception: then nothing of the
    caller's may override them, neither another credential nor a profile file.
    """
    env = dict(os.environ)
    explicit_keys = "AWS_ACCESS_KEY_ID" in account_env
    if explicit_keys:
        for name in CREDENTIAL_SOURCES:
            env.pop(name, None)
        env.update({"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
        env["AWS_EC2_METADATA_DISABLED"] = "true"
    elif "AWS_PROFILE" in account_env:
        # A named profile must not lose to keys that happen to be in the environment.
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            env.pop(name, None)
    path = [str(project_root / ".venv" / "bin"), str(project_root / "node_modules" / ".bin")]
    env["PATH"] = os.pathsep.join([*path, env.get("PATH", "")])
    env.update(account_env)
    env.update(
        {
            "CDK_DISABLE_VERSION_CHECK": "1",
            "CDK_DISABLE_CLI_TELEMETRY": "true",
            "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
        }
    )
    return env


def run_cdk(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    progress: Progress | None = None,
    timeout: float = 900,
) -> list[str]:
    """Run ``npx cdk <args>``, streaming each output line to ``progress``."""
    command = ["npx", "--no-install", "cdk", *args]
    lines: list[str] = []
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,  # Ctrl-C in the parent must not orphan node
    ) as process:
        assert process.stdout is not None
        deadline = time.monotonic() + timeout
        try:
            for line in process.stdout:
                line = line.rstrip()
                lines.append(line)
                if progress is not None:
                    progress(line)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"`{' '.join(command)}` took longer than {timeout:.0f}s")
            returncode = process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except BaseException:
            process.kill()
            process.wait()
            raise
    if returncode != 0:
        raise DeployError(command, returncode, lines)
    return lines
