"""The invoker's package, naive and trimmed, built by the project's bundler and measured.

The naive package is the bundler's install step alone: ``pip install --target`` of
the invoker's requirements under its lock, for the target platform. It is cached
in ``build/bench/`` between runs (keyed by requirements, lock and platform), since
pip takes most of a minute. The trimmed package is made from a copy of it in every
run by the bundler's own ``finish`` step (trim, then source and contracts), which is
exactly what ``try_bundle`` ships, bytecode for the runtime's Python included
(where an interpreter of it is at hand). Both are measured in the run: bytes on
disk, and the size of a deflated zip (zlib level 6) as uploaded.

Two variants are made from the shipped package for comparison, never shipped:
the same package without its bytecode (what shipped before the bundler compiled
it) and one with sourceless dependencies (the other layout the bundler could use).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from stacks.customer.invoker_function import INVOKER_SOURCE
from stacks.shared.lambda_bundling import (
    LOCK_FILE,
    LambdaPlatform,
    PipInstallBundling,
    RuntimeBytecode,
    shared_packages_for,
)

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "bench"


@dataclass(frozen=True)
class PackageSize:
    """One package's size in bytes."""

    unzipped: int
    zipped: int


def naive_install(target: LambdaPlatform) -> Path:
    """The untrimmed install for ``target``, from the cache or installed now."""
    key = hashlib.sha256()
    key.update(f"{target.machine}|{target.python_version}|{target.pip_platforms}".encode())
    for name in ("requirements.txt", LOCK_FILE):
        key.update((INVOKER_SOURCE / name).read_bytes())
    folder = BUILD / f"naive-{target.machine}-py{target.python_version}-{key.hexdigest()[:16]}"
    if not folder.is_dir():
        BUILD.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=BUILD, prefix=".naive-"))
        PipInstallBundling(INVOKER_SOURCE, target).install_dependencies(str(staging))
        staging.rename(folder)  # complete or absent: an interrupted run leaves no half cache
    return folder


def trimmed_package(target: LambdaPlatform, naive: Path, out: Path) -> Path:
    """The package the bundler ships for ``target``, made from a copy of ``naive``."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(naive, out, symlinks=True)
    PipInstallBundling(INVOKER_SOURCE, target).finish(str(out))
    return out


def without_bytecode(package: Path, out: Path) -> Path:
    """A copy of ``package`` without any pyc: every module compiled from source on import."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(package, out, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    return out


def sourceless_dependencies(package: Path, bytecode: RuntimeBytecode, out: Path) -> Path:
    """A copy of ``package`` whose dependencies are bytecode alone (``X.pyc`` in place of
    ``X.py``), the function's own source and the shared packages left as shipped."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(package, out, symlinks=True)
    own = {p.name for p in INVOKER_SOURCE.iterdir()} | {
        package.name for package in shared_packages_for(INVOKER_SOURCE)
    }
    for source in sorted(out.rglob("*.py")):
        if source.relative_to(out).parts[0] in own:
            continue
        pyc = source.parent / "__pycache__" / f"{source.stem}.{bytecode.cache_tag}.pyc"
        pyc.rename(source.with_suffix(".pyc"))
        source.unlink()
    for cache in sorted(out.rglob("__pycache__"), reverse=True):
        if not any(cache.iterdir()):
            cache.rmdir()
    return out


def measure(folder: Path) -> PackageSize:
    """Bytes of every file, and of a deflated zip of the folder."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    unzipped = sum(p.stat().st_size for p in files)
    fd, archive = tempfile.mkstemp(suffix=".zip", dir=BUILD)
    os.close(fd)
    try:
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for path in files:
                zf.write(path, path.relative_to(folder).as_posix())
        zipped = Path(archive).stat().st_size
    finally:
        os.unlink(archive)
    return PackageSize(unzipped, zipped)
