"""Docker-free bundling: the asset hash, the trim rules on a package tree, and the
bytecode compiled for the runtime's Python.

The real bundles (arm64 and host, pip-installed under the lock) and the proof
that the trimmed package still serves are in ``test_package_trim.py``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import shutil
import sys
import time
from pathlib import Path

import pytest

from stacks.customer.invoker_function import INVOKER_SOURCE
from stacks.operations.invocation_logging_guard import GUARD_SOURCE
from stacks.shared import lambda_bundling
from stacks.shared.lambda_bundling import (
    COMMON_DROPS,
    DEFAULT_TRIM,
    INVOKER_TRIM,
    BundleCache,
    LambdaPlatform,
    PackageTrim,
    PipInstallBundling,
    RuntimePythonError,
    find_runtime_bytecode,
    source_fingerprint,
    trim_for,
)

# A Python no machine has: no interpreter of it is ever found.
NO_SUCH_PYTHON = "3.99"


def test_asset_hash_depends_on_platform_and_source(tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text("def lambda_handler(e, c): return 1\n")
    arm, host = LambdaPlatform.aws_lambda(), LambdaPlatform("x", "x86_64", "3.11")  # type: ignore[arg-type]
    before = source_fingerprint(tmp_path, arm)
    assert before == source_fingerprint(tmp_path, arm)
    assert before != source_fingerprint(tmp_path, host)
    (tmp_path / "handler.py").write_text("def lambda_handler(e, c): return 2\n")
    assert before != source_fingerprint(tmp_path, arm)


def test_asset_hash_changes_when_the_trim_rules_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "bedrock_invoker"
    source.mkdir()
    (source / "handler.py").write_text("def lambda_handler(e, c): return 1\n")
    arm = LambdaPlatform.aws_lambda()
    before = source_fingerprint(source, arm)
    fewer_services = dataclasses.replace(
        INVOKER_TRIM, botocore_services={"sts": "", "bedrock-runtime": "", "logs": ""}
    )
    monkeypatch.setattr(lambda_bundling, "FUNCTION_TRIMS", {"bedrock_invoker": fewer_services})
    assert source_fingerprint(source, arm) != before


def test_each_function_gets_its_own_trim() -> None:
    assert trim_for(INVOKER_SOURCE) is INVOKER_TRIM
    # The guard installs nothing (the runtime's boto3): only the common drops apply.
    assert not (GUARD_SOURCE / "requirements.txt").exists()
    assert trim_for(GUARD_SOURCE) is DEFAULT_TRIM
    assert DEFAULT_TRIM.botocore_services is None and not DEFAULT_TRIM.distributions


def test_every_trim_entry_says_why_it_is_safe() -> None:
    for trim in (INVOKER_TRIM, DEFAULT_TRIM):
        assert all(d.why.strip() for d in trim.drops)
        assert all(why.strip() for why in trim.distributions.values())
        assert all(why.strip() for why in (trim.botocore_services or {}).values())


def _write(root: Path, relative: str, text: str = "x") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _fake_distribution(root: Path, name: str, files: list[str]) -> None:
    for relative in files:
        _write(root, relative)
    info = f"{name}-1.0.dist-info"
    _write(root, f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    record = [f"{f},," for f in files] + [f"{info}/METADATA,,", f"{info}/RECORD,,"]
    _write(root, f"{info}/RECORD", "\n".join(record) + "\n")


def test_trim_drops_tests_stubs_docs_unused_services_and_distributions(tmp_path: Path) -> None:
    root = tmp_path
    _fake_distribution(root, "numpy", ["numpy/__init__.py", "numpy/core/x.so", "numpy.libs/l.so"])
    _fake_distribution(root, "pydantic", ["pydantic/__init__.py", "pydantic/py.typed"])
    for relative in (
        "pydantic/tests/test_x.py",
        "pydantic/__init__.pyi",
        "jsonpatch-stubs/__init__.pyi",
        "websockets/speedups.c",
        "boto3/examples/s3.rst",
        "boto3/data/s3/2006-03-01/resources-1.json",
        "bin/jsonpatch",
        "langsmith/README.md",
        "botocore/data/ec2/2016-11-15/service-2.json.gz",
        "botocore/data/logs/2014-03-28/service-2.json.gz",
        "botocore/data/sts/2011-06-15/service-2.json.gz",
        "botocore/data/bedrock-runtime/2023-09-30/service-2.json.gz",
        "botocore/data/bedrock/2023-04-20/service-2.json.gz",
        "botocore/data/endpoints.json",
        "botocore/data/partitions.json",
        "botocore/data/sdk-default-configuration.json",
        "botocore/data/_retry.json",
        "pydantic-1.0.dist-info/licenses/LICENSE.md",
    ):
        _write(root, relative)
    INVOKER_TRIM.apply(root)
    left = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert left == {
        "pydantic/__init__.py",
        "pydantic/py.typed",
        "pydantic-1.0.dist-info/METADATA",
        "pydantic-1.0.dist-info/RECORD",
        "pydantic-1.0.dist-info/licenses/LICENSE.md",
        "botocore/data/logs/2014-03-28/service-2.json.gz",
        "botocore/data/sts/2011-06-15/service-2.json.gz",
        "botocore/data/bedrock-runtime/2023-09-30/service-2.json.gz",
        "botocore/data/bedrock/2023-04-20/service-2.json.gz",
        "botocore/data/endpoints.json",
        "botocore/data/partitions.json",
        "botocore/data/sdk-default-configuration.json",
        "botocore/data/_retry.json",
    }
    # A removed distribution leaves no empty folders behind.
    assert not (root / "numpy").exists() and not (root / "numpy.libs").exists()


def test_the_default_trim_keeps_every_service_and_distribution(tmp_path: Path) -> None:
    _fake_distribution(tmp_path, "numpy", ["numpy/__init__.py"])
    _write(tmp_path, "botocore/data/ec2/2016-11-15/service-2.json.gz")
    _write(tmp_path, "numpy/tests/test_x.py")
    PackageTrim(drops=COMMON_DROPS).apply(tmp_path)
    assert (tmp_path / "numpy" / "__init__.py").is_file()
    assert (tmp_path / "botocore" / "data" / "ec2").is_dir()
    assert not (tmp_path / "numpy" / "tests").exists()


# -- bytecode for the runtime's Python ---------------------------------------------------------


def _tiny_function(root: Path) -> Path:
    source = root / "tiny_function"
    _write(source, "handler.py", "import helper\ndef lambda_handler(e, c): return helper.X\n")
    _write(source, "helper.py", "X = 1\n")
    return source


def test_bundle_ships_unchecked_hash_bytecode_of_the_runtimes_python(tmp_path: Path) -> None:
    out = tmp_path / "asset"
    out.mkdir()
    host = LambdaPlatform.host()
    PipInstallBundling(_tiny_function(tmp_path), host).finish(str(out))
    sources = sorted(out.rglob("*.py"))
    assert {"handler.py", "helper.py", "usage_record.py"} <= {p.name for p in sources}
    for source in sources:
        pyc = Path(importlib.util.cache_from_source(str(source)))
        assert pyc.is_file(), source
        header = pyc.read_bytes()[:16]
        assert header[:4] == importlib.util.MAGIC_NUMBER
        # PEP 552 flags: hash-based (bit 0), not checked against the source (bit 1).
        assert int.from_bytes(header[4:8], "little") == 0b01, source


def test_a_module_that_does_not_compile_ships_as_source_and_the_rest_compiled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _tiny_function(tmp_path)
    _write(source, "legacy.py", "print 'a file for Python 2, never imported'\n")
    out = tmp_path / "asset"
    out.mkdir()
    PipInstallBundling(source, LambdaPlatform.host()).finish(str(out))
    assert Path(importlib.util.cache_from_source(str(out / "helper.py"))).is_file()
    assert not Path(importlib.util.cache_from_source(str(out / "legacy.py"))).exists()
    assert "did not compile every module" in capsys.readouterr().err


def test_asset_hash_changes_with_the_bytecode_shipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "handler.py").write_text("def lambda_handler(e, c): return 1\n")
    host = LambdaPlatform.host()
    with_bytecode = source_fingerprint(tmp_path, host)
    monkeypatch.setattr(lambda_bundling, "find_runtime_bytecode", lambda *_: None)
    assert source_fingerprint(tmp_path, host) != with_bytecode


def test_without_an_interpreter_of_the_runtimes_python_the_bundle_ships_no_bytecode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    find_runtime_bytecode.cache_clear()
    out = tmp_path / "asset"
    out.mkdir()
    unknown = dataclasses.replace(LambdaPlatform.host(), python_version=NO_SUCH_PYTHON)
    unknown = dataclasses.replace(unknown, runtime_python=None)
    PipInstallBundling(_tiny_function(tmp_path), unknown).finish(str(out))
    source_fingerprint(tmp_path / "tiny_function", unknown)
    assert (out / "handler.py").is_file()
    assert not list(out.rglob("*.pyc")) and not list(out.rglob("__pycache__"))
    # Said once per synth, however many functions are bundled.
    assert capsys.readouterr().err.count(f"no CPython {NO_SUCH_PYTHON} found") == 1


def test_a_runtime_python_of_another_version_is_refused() -> None:
    with pytest.raises(RuntimePythonError, match=f"is not CPython {NO_SUCH_PYTHON}"):
        find_runtime_bytecode(NO_SUCH_PYTHON, Path(sys.executable))


# -- the bundle cache ------------------------------------------------------------------------


def _bundle_into(bundling: PipInstallBundling, out: Path) -> Path:
    out.mkdir(parents=True)
    assert bundling.try_bundle(str(out), None)  # type: ignore[arg-type]
    return out


def test_an_unchanged_function_is_copied_from_the_cache_not_built_again(tmp_path: Path) -> None:
    cache = BundleCache(tmp_path / "cache")
    source = _tiny_function(tmp_path)
    bundling = PipInstallBundling(source, LambdaPlatform.host(), cache=cache)
    first = _bundle_into(bundling, tmp_path / "first")
    key = bundling.cache_key()
    assert key is not None and (cache.root / key / "handler.py").is_file()
    # A mark only the cache entry has (same size: the entry's inventory still
    # matches): the second bundle must come from it.
    (cache.root / key / "helper.py").write_text("X = 9\n")
    second = _bundle_into(bundling, tmp_path / "second")
    assert (second / "helper.py").read_text() == "X = 9\n"
    assert (first / "helper.py").read_text() == "X = 1\n"
    assert list(second.rglob("*.pyc"))

    (source / "helper.py").write_text("X = 2\n")
    changed = _bundle_into(bundling, tmp_path / "changed")
    assert bundling.cache_key() != key
    assert (changed / "helper.py").read_text() == "X = 2\n"


def test_a_cache_entry_changed_since_it_was_stored_is_built_again(tmp_path: Path) -> None:
    cache = BundleCache(tmp_path / "cache")
    bundling = PipInstallBundling(_tiny_function(tmp_path), LambdaPlatform.host(), cache=cache)
    _bundle_into(bundling, tmp_path / "first")
    key = bundling.cache_key()
    assert key is not None
    # What `make clean`'s sweep of every __pycache__ under the project would do.
    for cache_dir in (cache.root / key).rglob("__pycache__"):
        shutil.rmtree(cache_dir)
    again = _bundle_into(bundling, tmp_path / "again")
    assert list(again.rglob("*.pyc")), "the bundle lost its bytecode to a damaged cache entry"


def test_a_function_without_a_lock_is_never_taken_from_the_cache(tmp_path: Path) -> None:
    source = _tiny_function(tmp_path)
    (source / "requirements.txt").write_text("six\n")
    assert PipInstallBundling(source, LambdaPlatform.host()).cache_key() is None


def test_the_cache_keeps_only_its_most_recently_used_entries(tmp_path: Path) -> None:
    cache = BundleCache(tmp_path / "cache", keep=2)
    built = tmp_path / "built"
    _write(built, "handler.py", "")
    for key in ("oldest", "older", "newest"):
        cache.store(key, built)
        time.sleep(0.02)  # distinct modification times
    assert sorted(p.name for p in cache.root.iterdir() if p.is_dir()) == ["newest", "older"]
    assert cache.restore("older", tmp_path / "restored")
    assert not cache.restore("oldest", tmp_path / "nothing")
