"""The client library installs with pip as its own package: a wheel carrying the
library and the contracts it shares with the function, depending only on what it uses."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.slow  # pip builds the wheel in an isolated environment


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            str(ROOT / "client"),
            "-w",
            str(out),
        ],
        check=True,
    )
    [built] = out.glob("bedrock_tenant_client-*.whl")
    return built


def test_the_wheel_holds_the_library_and_the_shared_contracts_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    packages = {name.split("/")[0] for name in names if not name.endswith(".dist-info/")}
    assert {p for p in packages if not p.endswith(".dist-info")} == {
        "bedrock_tenant_client",
        "contracts",
    }
    assert "contracts/prices.json" in names
    assert "contracts/usage_record.py" in names
    assert "bedrock_tenant_client/usage/record.py" in names
    # The shared files are the function's very files, not copies kept apart.
    assert (
        zipfile.ZipFile(wheel).read("contracts/usage_record.py")
        == (ROOT / "contracts" / "usage_record.py").read_bytes()
    )


def test_the_wheel_depends_only_on_what_the_library_imports(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    [metadata] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    requires = Parser().parsestr(archive.read(metadata).decode()).get_all("Requires-Dist") or []
    names = {r.split(";")[0].split(">")[0].split("=")[0].split("[")[0].strip() for r in requires}
    assert names == {
        "boto3",
        "langchain-aws",
        "langchain-core",
        "pydantic",
        "aws-lambda-powertools",
        "ruamel.yaml",  # the registry extra only
    }
    assert not any("aws-cdk" in r or "moto" in r for r in requires)
    assert any('extra == "registry"' in r for r in requires if r.startswith("ruamel.yaml"))


def test_the_installed_wheel_imports_on_its_own(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    # Run from elsewhere, the installed copy first on the path (its dependencies
    # come from this interpreter's site-packages).
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import bedrock_tenant_client.tenant as t, contracts; print(t.__file__); print(contracts.__file__)",
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(path.startswith(str(target)) for path in shown), shown
