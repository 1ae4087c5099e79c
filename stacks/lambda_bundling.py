"""Docker-free bundling of Python Lambda code: pip installs wheels for the target.

``PythonFunction`` (alpha) always needs Docker. Here pip fetches binary wheels
built for the function's platform (``--platform``/``--python-version``/
``--only-binary``) straight into the asset folder, so the host's own
architecture and interpreter do not matter.
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Pure contracts shared with the stacks and the CLI, copied into every function's
# asset so that the function still ships alone (``lambda/`` imports nothing else
# of the project).
CONTRACTS_DIR = PROJECT_ROOT / "contracts"
# Each function's own lock of every transitive version, next to its requirements:
# the function runs the very langchain-core, botocore and pydantic-core the tests
# ran against, not whatever pip resolves on the day of the deploy.
LOCK_FILE = "requirements.lock"

_SOURCE_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "requirements.txt", LOCK_FILE, ".*")


@dataclass(frozen=True)
class LambdaPlatform:
    """What a function's package is built for and run on."""

    architecture: lambda_.Architecture
    machine: str  # "aarch64" or "x86_64", as in wheel platform tags
    python_version: str  # "3.12"

    @property
    def pip_platforms(self) -> tuple[str, ...]:
        """Wheel tags the target's glibc accepts. Lambda's Python 3.12 runs on Amazon
        Linux 2023 (glibc 2.34); newer wheels (numpy 2.3+) ship only manylinux_2_28."""
        return (f"manylinux_2_28_{self.machine}", f"manylinux2014_{self.machine}")

    @property
    def runtime(self) -> lambda_.Runtime:
        return lambda_.Runtime(f"python{self.python_version}", lambda_.RuntimeFamily.PYTHON)

    @classmethod
    def aws_lambda(cls) -> LambdaPlatform:
        """What the product deploys to AWS: Graviton, Python 3.12."""
        return cls(lambda_.Architecture.ARM_64, "aarch64", "3.12")

    @classmethod
    def host(cls) -> LambdaPlatform:
        """This machine's architecture and interpreter, for the embedded cloud's runner,
        which executes the deployed package in a local subprocess."""
        machine = platform.machine().lower()
        arm = machine in {"aarch64", "arm64"}
        return cls(
            lambda_.Architecture.ARM_64 if arm else lambda_.Architecture.X86_64,
            "aarch64" if arm else "x86_64",
            f"{sys.version_info.major}.{sys.version_info.minor}",
        )


@jsii.implements(ILocalBundling)
class PipInstallBundling:
    """Copies the function source and pip-installs its requirements for the target."""

    def __init__(self, source_dir: Path, target: LambdaPlatform) -> None:
        self._source_dir = source_dir
        self._target = target

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        requirements = self._source_dir / "requirements.txt"
        lock = self._source_dir / LOCK_FILE
        if requirements.exists():
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "-qq",
                    "--disable-pip-version-check",
                    "--no-compile",
                    "--requirement",
                    str(requirements),
                    *(("--constraint", str(lock)) if lock.exists() else ()),
                    "--target",
                    output_dir,
                    *(arg for tag in self._target.pip_platforms for arg in ("--platform", tag)),
                    "--implementation",
                    "cp",
                    "--python-version",
                    self._target.python_version,
                    "--only-binary=:all:",
                ],
                check=True,
            )
        shutil.copytree(self._source_dir, output_dir, dirs_exist_ok=True, ignore=_SOURCE_IGNORE)
        shutil.copytree(
            CONTRACTS_DIR,
            Path(output_dir) / CONTRACTS_DIR.name,
            dirs_exist_ok=True,
            ignore=_SOURCE_IGNORE,
        )
        return True


def python_function_code(source_dir: Path, target: LambdaPlatform) -> lambda_.Code:
    """A function's code asset, bundled locally for ``target``.

    The asset hash covers the source (requirements and lock included), the
    contracts package and the target, so an unchanged function is not re-bundled
    on every synth, stacks that share the source share one bundle, and two
    platforms never share an asset.
    """
    return lambda_.Code.from_asset(
        str(source_dir),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=source_fingerprint(source_dir, target),
        bundling=BundlingOptions(
            # Required by the API; only used if local bundling declined, which it never does.
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.12"),
            # jsii hands the options over as one struct, not as the keyword
            # arguments the generated typing stub declares.
            local=cast(ILocalBundling, PipInstallBundling(source_dir, target)),
        ),
    )


def source_fingerprint(source_dir: Path, target: LambdaPlatform) -> str:
    """A stable hash of the function source, the contracts and the target platform."""
    digest = hashlib.sha256()
    digest.update(f"{target.machine}|{target.python_version}".encode())
    for root in (source_dir, CONTRACTS_DIR):
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(f"{root.name}/{path.relative_to(root).as_posix()}".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()
