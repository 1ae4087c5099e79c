"""The invoker Lambda really bundles without Docker, for arm64 / Python 3.12."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from stacks.invoker_function import INVOKER_SOURCE
from stacks.lambda_bundling import (
    LOCK_FILE,
    LambdaPlatform,
    PipInstallBundling,
    source_fingerprint,
)


@pytest.mark.slow
def test_bundle_holds_aarch64_wheels_and_the_handler(tmp_path: Path) -> None:
    out = tmp_path / "asset"
    out.mkdir()
    assert PipInstallBundling(INVOKER_SOURCE, LambdaPlatform.aws_lambda()).try_bundle(
        str(out),
        None,  # type: ignore[arg-type]
    )
    binaries = [p.name for p in (out / "pydantic_core").glob("_pydantic_core*.so")]
    assert binaries and all("312" in b and "aarch64" in b for b in binaries), binaries
    assert (out / "handler.py").is_file()
    assert (out / "langchain_aws").is_dir()
    assert not (out / "requirements.txt").exists()
    assert not list(out.rglob("__pycache__"))
    assert (out / "contracts" / "usage_record.py").is_file()
    assert not (out / LOCK_FILE).exists()
    # The function gets the versions its own lock pins, not whatever pip would
    # resolve today.
    locked = dict(
        line.strip().split("==", 1)
        for line in (INVOKER_SOURCE / LOCK_FILE).read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    bundled = {
        d.name.removesuffix(".dist-info").rsplit("-", 1)[0]: d.name.removesuffix(
            ".dist-info"
        ).rsplit("-", 1)[1]
        for d in out.glob("*.dist-info")
    }
    for package in ("langchain_core", "langchain_aws", "botocore", "pydantic_core", "numpy"):
        wanted = next(v for k, v in locked.items() if k.lower().replace("-", "_") == package)
        assert bundled[package] == wanted, (package, bundled[package], wanted)
    # Sizes for the record (the issue notes quote them).
    unzipped = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    archive = tmp_path / "asset.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in out.rglob("*"):
            zf.write(p, p.relative_to(out))
    print(f"asset: {unzipped / 1e6:.1f} MB unzipped, {archive.stat().st_size / 1e6:.1f} MB zipped")
    assert unzipped < 250 * 1024 * 1024, "Lambda refuses packages over 250 MB unzipped"


def test_asset_hash_depends_on_platform_and_source(tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text("def lambda_handler(e, c): return 1\n")
    arm, host = LambdaPlatform.aws_lambda(), LambdaPlatform("x", "x86_64", "3.11")  # type: ignore[arg-type]
    before = source_fingerprint(tmp_path, arm)
    assert before == source_fingerprint(tmp_path, arm)
    assert before != source_fingerprint(tmp_path, host)
    (tmp_path / "handler.py").write_text("def lambda_handler(e, c): return 2\n")
    assert before != source_fingerprint(tmp_path, arm)
