"""The trimmed invoker package still imports and serves a call, on both architectures.

1. Host architecture: the bundler's real output, zipped and deployed into the
   embedded cloud, answers a Converse call through the embedded Lambda runner and
   writes its usage record, while importing only from the package and the
   standard library (the venv the runner's interpreter comes from is hidden, as
   Lambda has no such fallback). numpy and zstandard, trimmed, are never imported.
2. The same bundle with one needed thing trimmed on purpose (``botocore/data/logs``)
   fails the call: the serve check can fail.
3. arm64 (what deploys): every top-level module of the package's pure-Python
   distributions imports in a fresh interpreter that sees nothing but the arm64
   package, with the host's build of the same locked compiled distributions standing
   in for the aarch64 ones; and every file the host call imported from its package
   is in the arm64 package too (compiled modules as aarch64/CPython 3.12 builds).
4. Lazy package inits (``PackageTrim.lazy_inits``): every name the original
   ``__init__`` exports reads as the same object from the shipped one; what they
   stop importing is not imported by the call, and nothing of those packages is
   left for the first call to import (SnapStart snapshots init).
5. Bytecode: the host bundle, imported with ``-B`` (nothing written, as on
   Lambda's read-only ``/var/task``), compiles none of its modules from source,
   at import or during the call; no bundle holds bytecode of another Python.
"""

from __future__ import annotations

import ast
import io
import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from embedded_aws import EmbeddedCloud
from stacks.customer.invoker_function import INVOKER_SOURCE
from stacks.shared.lambda_bundling import (
    INVOKER_TRIM,
    LOCK_FILE,
    Drop,
    LambdaPlatform,
    PackageTrim,
    PipInstallBundling,
)
from tests.integration.embedded.conftest import (
    ACME,
    HAIKU,
    OPS,
    REGION,
    allow,
    create_role,
    policy,
    trust,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("package-trim")]

TENANT_ID = "acme"
EXTERNAL_ID = "package-trim-external-id"
LOG_GROUP = "/aws/bedrock/langchain/logs"
PROBE_MODULE = "package_probe"

# Loaded in front of the real handler: it leaves importable only the package and
# the standard library, then reports every module the call imported and its file.
PROBE = textwrap.dedent(
    '''
    """Run the real handler with nothing but the package and the standard library."""
    import os
    import sys
    import sysconfig

    TASK_ROOT = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
    # In a venv "platstdlib" is the venv itself: only the base interpreter's lib counts.
    _STDLIB = os.path.realpath(sysconfig.get_paths()["stdlib"])


    def _allowed(path):
        real = os.path.realpath(path or ".")
        if real == TASK_ROOT:
            return True
        parts = real.split(os.sep)
        return real.startswith(_STDLIB) and not {"site-packages", "dist-packages"} & set(parts)


    sys.path[:] = [TASK_ROOT] + [p for p in sys.path if p and _allowed(p)]
    # Editable installs and setuptools' hacks add finders of their own.
    sys.meta_path[:] = [
        f for f in sys.meta_path
        if getattr(f, "__module__", "") in {"_frozen_importlib", "_frozen_importlib_external"}
    ]
    sys.path_importer_cache.clear()
    BEFORE = set(sys.modules)

    # The import system compiles a module from source only where no valid pyc is.
    import importlib.machinery
    COMPILED_FROM_SOURCE = []
    _source_to_code = importlib.machinery.SourceFileLoader.source_to_code


    def _recording_source_to_code(self, data, path, *args, **kwargs):
        COMPILED_FROM_SOURCE.append(os.path.relpath(os.path.realpath(path), TASK_ROOT))
        return _source_to_code(self, data, path, *args, **kwargs)


    importlib.machinery.SourceFileLoader.source_to_code = _recording_source_to_code

    import handler  # noqa: E402

    AT_INIT = set(sys.modules)


    def lambda_handler(event, context):
        result = handler.lambda_handler(event, context)
        files = {}
        for name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None)
            if name in BEFORE:
                continue
            if path is None:
                files[name] = None
            elif os.path.realpath(path).startswith(TASK_ROOT + os.sep):
                files[name] = "package:" + os.path.relpath(os.path.realpath(path), TASK_ROOT)
            elif _allowed(os.path.dirname(path)):
                files[name] = "stdlib"
            else:
                files[name] = "elsewhere:" + path
        return {
            "result": result,
            "modules": files,
            "imported_by_the_call": sorted(set(sys.modules) - AT_INIT),
            "compiled_from_source": [
                p for p in COMPILED_FROM_SOURCE if not p.startswith(("..", "package_probe"))
            ],
        }
    '''
)


def _bundle(target: LambdaPlatform, out: Path) -> Path:
    out.mkdir(parents=True)
    assert PipInstallBundling(INVOKER_SOURCE, target).try_bundle(
        str(out),
        None,  # type: ignore[arg-type]
    )
    return out


@pytest.fixture(scope="module")
def host_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _bundle(LambdaPlatform.host(), tmp_path_factory.mktemp("host") / "asset")


@pytest.fixture(scope="module")
def arm_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _bundle(LambdaPlatform.aws_lambda(), tmp_path_factory.mktemp("arm") / "asset")


def _zip(root: Path, extra: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root).as_posix())
        for name, text in extra.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[OPS, ACME]) as embedded:
        caller = create_role(
            embedded,
            ACME,
            f"bedrock-caller-{TENANT_ID}",
            trust({"Service": "lambda.amazonaws.com"}),
        )
        invoker_role = f"arn:aws:iam::{OPS}:role/bedrock-invoker-{TENANT_ID}"
        embedded.client("iam", ACME).put_role_policy(
            RoleName=f"bedrock-caller-{TENANT_ID}",
            PolicyName="Caller",
            PolicyDocument=policy(
                allow("sts:AssumeRole", invoker_role),
                allow(
                    ["logs:CreateLogStream", "logs:PutLogEvents"],
                    f"arn:aws:logs:{REGION}:{ACME}:log-group:{LOG_GROUP}:*",
                ),
            ),
        )
        create_role(
            embedded,
            OPS,
            f"bedrock-invoker-{TENANT_ID}",
            trust(
                {"AWS": f"arn:aws:iam::{ACME}:root"},
                {
                    "StringEquals": {
                        "sts:ExternalId": EXTERNAL_ID,
                        "sts:RoleSessionName": TENANT_ID,
                    },
                    "ArnEquals": {"aws:PrincipalArn": caller},
                },
            ),
            policy(
                allow(
                    ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                    f"arn:aws:bedrock:{REGION}::foundation-model/{HAIKU}",
                )
            ),
        )
        embedded.client("logs", ACME).create_log_group(logGroupName=LOG_GROUP)
        yield embedded


def _deploy(cloud: EmbeddedCloud, name: str, package: Path) -> None:
    cloud.client("lambda", ACME).create_function(
        FunctionName=name,
        Runtime=f"python{sys.version_info.major}.{sys.version_info.minor}",
        Role=f"arn:aws:iam::{ACME}:role/bedrock-caller-{TENANT_ID}",
        Handler=f"{PROBE_MODULE}.lambda_handler",
        Code={"ZipFile": _zip(package, {f"{PROBE_MODULE}.py": PROBE})},
        Timeout=60,
        MemorySize=512,
        Environment={
            "Variables": {
                "TENANT_ID": TENANT_ID,
                "OPS_ROLE_ARN": f"arn:aws:iam::{OPS}:role/bedrock-invoker-{TENANT_ID}",
                "OPS_EXTERNAL_ID": EXTERNAL_ID,
                "BEDROCK_REGION": REGION,
                "USAGE_LOG_GROUP": LOG_GROUP,
                "ALLOWED_MODELS": HAIKU,
                "DEFAULT_MODEL_ID": HAIKU,
                "USAGE_SINK": "api",
                "POWERTOOLS_SERVICE_NAME": "bedrock-invoker",
            }
        },
    )


def _call(cloud: EmbeddedCloud, name: str, user_id: str) -> dict[str, Any]:
    """``lambda.invoke``'s answer: the payload, the function error and the log tail."""
    return cloud.invoke(
        ACME, name, {"prompt": "Say hello.", "user_id": user_id, "application_id": "trim-test"}
    )


@pytest.fixture(scope="module")
def served(cloud: EmbeddedCloud, host_bundle: Path) -> dict[str, Any]:
    """One call through the deployed trimmed package: the handler's result and its modules."""
    _deploy(cloud, "trimmed", host_bundle)
    answer = _call(cloud, "trimmed", "alice")
    assert answer["function_error"] is None, (answer["payload"], answer["log_tail"])
    payload: dict[str, Any] = answer["payload"]
    return payload


def test_trimmed_package_answers_and_writes_the_usage_record(
    cloud: EmbeddedCloud, served: dict[str, Any]
) -> None:
    result = served["result"]
    assert "error" not in result, result
    assert result["output"]
    events = cloud.client("logs", ACME).filter_log_events(
        logGroupName=LOG_GROUP, logStreamNames=["alice"]
    )["events"]
    records = [json.loads(e["message"]) for e in events]
    assert any(r.get("application_id") == "trim-test" for r in records), records


def test_the_call_imports_only_the_package_and_the_standard_library(
    served: dict[str, Any],
) -> None:
    modules: dict[str, str | None] = served["modules"]
    elsewhere = {n: f for n, f in modules.items() if f is not None and f.startswith("elsewhere:")}
    assert not elsewhere, elsewhere
    # The package really served: its own LangChain and botocore, not a stand-in.
    assert modules["langchain_aws"] == "package:langchain_aws/__init__.py"
    assert modules["botocore"] == "package:botocore/__init__.py"


def test_numpy_and_zstandard_are_never_imported_on_the_call_path(
    host_bundle: Path, served: dict[str, Any]
) -> None:
    imported = {name.split(".")[0] for name in served["modules"]}
    for trimmed in INVOKER_TRIM.distributions:
        assert trimmed not in imported
        assert not (host_bundle / trimmed).exists()
        assert not list(host_bundle.glob(f"{trimmed}-*.dist-info"))
    # Kept, and really on the path: a trim of these would be a bug.
    assert {"boto3", "botocore", "langchain_core", "langsmith", "pydantic_core"} <= imported


# Reads names of packages in a fresh interpreter that sees only the package:
# what each is (module and qualified name, or value), or the error reading it raises.
NAME_READER = textwrap.dedent(
    """
    import importlib, json, sys, types
    sys.path[:0] = [sys.argv[1]]
    found = {}
    for package, names in json.loads(sys.argv[2]).items():
        module = importlib.import_module(package)
        for name in names:
            try:
                value = getattr(module, name)
            except Exception as error:
                found[f"{package}.{name}"] = "raises " + type(error).__name__
                continue
            if isinstance(value, types.ModuleType):
                found[f"{package}.{name}"] = "module " + value.__name__
            elif hasattr(value, "__qualname__"):
                found[f"{package}.{name}"] = f"{value.__module__}.{value.__qualname__}"
            else:
                found[f"{package}.{name}"] = repr(value)
    print(json.dumps(found))
    """
)


def _read_names(root: Path, names: dict[str, list[str]]) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", NAME_READER, str(root), json.dumps(names)],
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, str] = json.loads(done.stdout)
    return found


def test_lazy_inits_read_every_exported_name_as_the_original_init_did(
    host_bundle: Path, tmp_path: Path
) -> None:
    # The same bundle with the original inits back: the pip install's own files.
    naive = tmp_path / "naive"
    PipInstallBundling(INVOKER_SOURCE, LambdaPlatform.host()).install_dependencies(str(naive))
    eager = tmp_path / "eager"
    shutil.copytree(host_bundle, eager)
    names: dict[str, list[str]] = {}
    for package in INVOKER_TRIM.lazy_inits:
        relative = Path(*package.split("."), "__init__.py")
        original = (naive / relative).read_text()
        assert (host_bundle / relative).read_text() != original  # really rewritten
        shutil.copyfile(naive / relative, eager / relative)
        for pyc in (eager / relative).parent.glob("__pycache__/__init__.*"):
            pyc.unlink()
        exported = (
            next(
                ast.literal_eval(node.value)
                for node in ast.parse(original).body
                if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
            )
            if "__all__" in original
            else [
                alias.asname or alias.name
                for node in ast.parse(original).body
                if isinstance(node, ast.ImportFrom) and node.level == 1
                for alias in node.names
            ]
        )
        names[package] = [*exported, "no_such_name"]
    assert len(names["langsmith.types"]) > 100
    found = _read_names(host_bundle, names)
    assert found == _read_names(eager, names)
    assert found["langchain_aws.ChatBedrockConverse"] == (
        "langchain_aws.chat_models.bedrock_converse.ChatBedrockConverse"
    )
    assert found["langchain_aws.no_such_name"] == "raises AttributeError"


def test_what_the_lazy_inits_stop_importing_is_not_imported(served: dict[str, Any]) -> None:
    modules = served["modules"]
    assert "langchain_aws.chat_models.bedrock_converse" in modules
    assert "langsmith.types.run_select_field" in modules  # langsmith.run_trees' one need
    for unused in ("langchain_aws.chat_models.bedrock", "langchain_aws.retrievers"):
        assert unused not in modules
    assert [m for m in modules if m.startswith("langsmith.types.")] == [
        "langsmith.types.run_select_field"
    ]


def test_the_first_call_imports_nothing_of_the_lazy_packages(served: dict[str, Any]) -> None:
    # SnapStart snapshots init: what the call needs of them is imported before it.
    late = [
        m
        for m in served["imported_by_the_call"]
        if any(m == p or m.startswith(f"{p}.") for p in INVOKER_TRIM.lazy_inits)
    ]
    assert late == []


def test_the_deferred_imports_are_not_imported_by_a_call(served: dict[str, Any]) -> None:
    modules = served["modules"]
    assert "langchain_aws.chat_models.bedrock_converse" in modules
    for deferred in INVOKER_TRIM.deferred_imports:
        assert deferred.imported not in modules
    # What langchain_aws.function_calling alone brought in.
    assert not [m for m in modules if m.startswith(("langchain_core.prompts", "yaml"))]


# What the deferred import serves: structured output, in a fresh interpreter that
# sees only the package (no call is made: the parser is built, not run).
STRUCTURED_OUTPUT = textwrap.dedent(
    """
    import json, sys
    sys.path[:0] = [sys.argv[1]]
    from langchain_aws import ChatBedrockConverse
    from pydantic import BaseModel

    class Greeting(BaseModel):
        text: str

    model = ChatBedrockConverse(
        model="anthropic.claude-3-haiku-20240307-v1:0",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    parsers = [model.with_structured_output(Greeting), model.with_structured_output(
        {"title": "greeting", "description": "d", "type": "object",
         "properties": {"text": {"type": "string"}}})]
    print(json.dumps([type(p.last).__module__ + "." + type(p.last).__qualname__ for p in parsers]))
    """
)


def test_structured_output_still_gets_the_deferred_parsers(host_bundle: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", STRUCTURED_OUTPUT, str(host_bundle)],
        capture_output=True,
        text=True,
        check=True,
        env={"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"},
    )
    assert json.loads(done.stdout) == [
        "langchain_aws.function_calling._RepairingPydanticToolsParser",
        "langchain_aws.function_calling._RepairingJsonOutputKeyToolsParser",
    ]


def test_a_needed_module_trimmed_on_purpose_fails_the_call(
    cloud: EmbeddedCloud, host_bundle: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(host_bundle, broken)
    PackageTrim(drops=(Drop("botocore/data/logs", "on purpose: the usage writer needs it"),)).apply(
        broken
    )
    assert not (broken / "botocore" / "data" / "logs").exists()
    _deploy(cloud, "over-trimmed", broken)
    answer = _call(cloud, "over-trimmed", "bob")
    # The logs client is built during init, so the function fails to initialise.
    assert answer["function_error"] == "Unhandled", answer["payload"]
    assert answer["payload"]["errorType"] == "Runtime.ImportModuleError"
    assert "Unknown service: 'logs'" in answer["payload"]["errorMessage"]


def test_bundle_holds_aarch64_wheels_under_the_lock_and_is_trimmed(arm_bundle: Path) -> None:
    binaries = [p.name for p in (arm_bundle / "pydantic_core").glob("_pydantic_core*.so")]
    assert binaries and all("312" in b and "aarch64" in b for b in binaries), binaries
    assert (arm_bundle / "handler.py").is_file()
    assert (arm_bundle / "contracts" / "usage_record.py").is_file()
    assert not (arm_bundle / "requirements.txt").exists()
    assert not (arm_bundle / LOCK_FILE).exists()
    locked = dict(
        line.strip().split("==", 1)
        for line in (INVOKER_SOURCE / LOCK_FILE).read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    bundled = {
        d.name.removesuffix(".dist-info").rsplit("-", 1)[0]: d.name.removesuffix(
            ".dist-info"
        ).rsplit("-", 1)[1]
        for d in arm_bundle.glob("*.dist-info")
    }
    for package in ("langchain_core", "langchain_aws", "botocore", "boto3", "pydantic_core"):
        wanted = next(v for k, v in locked.items() if k.lower().replace("-", "_") == package)
        assert bundled[package] == wanted, (package, bundled[package], wanted)
    assert not {"numpy", "zstandard"} & set(bundled)
    services = {p.name for p in (arm_bundle / "botocore" / "data").iterdir() if p.is_dir()}
    assert services == set(INVOKER_TRIM.botocore_services)
    for data_file in ("endpoints.json", "partitions.json", "sdk-default-configuration.json"):
        assert (arm_bundle / "botocore" / "data" / data_file).is_file()
    assert not list(arm_bundle.rglob("tests")) and not list(arm_bundle.rglob("*.pyi"))
    assert list(arm_bundle.glob("*.dist-info/licenses/*")) or list(
        arm_bundle.glob("*.dist-info/LICENSE*")
    ), "licences stay in the package"
    unzipped = sum(p.stat().st_size for p in arm_bundle.rglob("*") if p.is_file())
    assert unzipped < 250 * 1024 * 1024, "Lambda refuses packages over 250 MB unzipped"


def _pure_distributions(root: Path) -> dict[str, bool]:
    """Each installed distribution's dist-info folder name -> Root-Is-Purelib."""
    pure = {}
    for info in root.glob("*.dist-info"):
        wheel = (info / "WHEEL").read_text()
        pure[info.name] = "Root-Is-Purelib: true" in wheel
    return pure


def _top_level_modules(info: Path) -> set[str]:
    """Top-level importable names a distribution installs, from its RECORD."""
    names = set()
    for line in (info / "RECORD").read_text().splitlines():
        first = line.split(",", 1)[0].split("/", 1)
        head = first[0]
        if (
            head.endswith((".dist-info", ".data"))
            or head in {"..", "bin"}
            or head.endswith("-stubs")
        ):
            continue
        if len(first) == 1:
            if head.endswith(".py"):
                names.add(head.removesuffix(".py"))
        elif not head.endswith(".libs"):
            names.add(head)
    return names


# What a fresh interpreter importing the handler needs: nothing of the host.
_IMPORT_ENV = {
    "PATH": "/usr/bin:/bin",
    # handler.py validates its settings at import.
    "TENANT_ID": TENANT_ID,
    "OPS_ROLE_ARN": f"arn:aws:iam::{OPS}:role/bedrock-invoker-{TENANT_ID}",
    "OPS_EXTERNAL_ID": EXTERNAL_ID,
    "BEDROCK_REGION": REGION,
    "USAGE_LOG_GROUP": LOG_GROUP,
    "ALLOWED_MODELS": HAIKU,
    "DEFAULT_MODEL_ID": HAIKU,
    "AWS_DEFAULT_REGION": REGION,
    # Init builds the clients (no network call): any credentials will do.
    "AWS_ACCESS_KEY_ID": "AKIAIMPORTCHECK",
    "AWS_SECRET_ACCESS_KEY": "import-check",
}

IMPORT_CHECK = textwrap.dedent(
    """
    import importlib, json, sys
    failures = {}
    for name in json.loads(sys.argv[1]):
        try:
            importlib.import_module(name)
        except Exception as exc:
            failures[name] = f"{type(exc).__name__}: {exc}"
    json.dump({"failures": failures, "files": {
        n: getattr(m, "__file__", None) for n, m in sys.modules.items()}}, sys.stdout)
    """
)


def test_arm64_pure_python_modules_import(
    arm_bundle: Path, host_bundle: Path, tmp_path: Path
) -> None:
    """Every top-level module of the arm64 package's pure-Python distributions imports.

    The interpreter sees only the arm64 package (``-I -S``: no site-packages) and,
    ahead of it, the host build of the compiled distributions alone (the same locked
    versions), since this machine cannot load aarch64 extensions.
    """
    compiled_overlay = tmp_path / "host-compiled"
    for info_name, pure in _pure_distributions(host_bundle).items():
        if not pure:
            for line in (host_bundle / info_name / "RECORD").read_text().splitlines():
                relative = line.split(",", 1)[0]
                if relative.startswith("..") or not (host_bundle / relative).is_file():
                    continue  # outside the target, or trimmed
                (compiled_overlay / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(host_bundle / relative, compiled_overlay / relative)
    wanted: set[str] = set()
    for info_name, pure in _pure_distributions(arm_bundle).items():
        if pure:
            wanted |= _top_level_modules(arm_bundle / info_name)
    wanted |= {"handler", "invoker", "contracts"}
    assert {
        "langchain_aws",
        "langchain_core",
        "botocore",
        "boto3",
        "aws_lambda_powertools",
    } <= wanted
    script = (
        f"import sys; sys.path[:0] = [{str(compiled_overlay)!r}, {str(arm_bundle)!r}]\n"
        + IMPORT_CHECK
    )
    env = {**_IMPORT_ENV, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    # -B: this host's interpreter must not write its own bytecode into the arm64 bundle.
    done = subprocess.run(
        [sys.executable, "-B", "-I", "-S", "-c", script, json.dumps(sorted(wanted))],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=300,
    )
    report = json.loads(done.stdout)
    assert report["failures"] == {}, report["failures"]
    for name in wanted:
        path = report["files"].get(name)
        assert path is None or path.startswith(str(arm_bundle)), (name, path)


def test_arm64_package_holds_every_file_the_host_call_imported(
    arm_bundle: Path, served: dict[str, Any]
) -> None:
    for name, where in served["modules"].items():
        if where is None or not where.startswith("package:"):
            continue
        relative = Path(where.removeprefix("package:"))
        if relative.suffix == ".py":
            assert (arm_bundle / relative).is_file(), name
        else:  # a compiled extension: the same module built for Lambda
            stem = relative.name.split(".", 1)[0]
            builds = list((arm_bundle / relative.parent).glob(f"{stem}.*.so"))
            assert any("aarch64" in b.name or b.name.endswith(".abi3.so") for b in builds), (
                name,
                builds,
            )


# -- bytecode ----------------------------------------------------------------------------------

# Imports every module named on the command line with the import system's
# compile-from-source step recorded: with a valid pyc it is never reached.
COMPILE_CHECK = textwrap.dedent(
    """
    import importlib, importlib.machinery, json, os, sys
    package = os.path.realpath(sys.argv[1])
    sys.path.insert(0, package)
    compiled = []
    source_to_code = importlib.machinery.SourceFileLoader.source_to_code
    def recording(self, data, path, *args, **kwargs):
        compiled.append(os.path.relpath(os.path.realpath(path), package))
        return source_to_code(self, data, path, *args, **kwargs)
    importlib.machinery.SourceFileLoader.source_to_code = recording
    import handler
    for name in json.loads(sys.argv[2]):
        importlib.import_module(name)
    json.dump({"compiled": compiled, "handler": handler.__file__}, sys.stdout)
    """
)


def test_the_host_bundle_imported_with_no_bytecode_writes_compiles_nothing_from_source(
    host_bundle: Path, served: dict[str, Any]
) -> None:
    """``-B``: no pyc is written, so whatever the bundle lacks would be compiled from
    source on every cold start. The modules are the handler's and every module the
    served call imported from the package (lazy imports included)."""
    called = sorted(
        name
        for name, where in served["modules"].items()
        if where is not None and where.startswith("package:") and where.endswith(".py")
    )
    assert "langchain_aws.chat_models.bedrock_converse" in called
    done = subprocess.run(
        [
            sys.executable,
            "-B",
            "-I",
            "-S",
            "-c",
            COMPILE_CHECK,
            str(host_bundle),
            json.dumps(called),
        ],
        capture_output=True,
        text=True,
        env={**_IMPORT_ENV, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
        check=True,
        timeout=300,
    )
    report = json.loads(done.stdout)
    assert report["handler"].startswith(str(host_bundle.resolve()))
    assert report["compiled"] == []
    # The call served from the embedded runner (which writes no bytecode either).
    assert served["compiled_from_source"] == []


def _pycs(bundle: Path) -> list[Path]:
    return sorted(bundle.rglob("*.pyc"))


@pytest.mark.parametrize("which", ["arm64", "host"])
def test_no_bundle_ships_bytecode_of_another_python(
    which: str, arm_bundle: Path, host_bundle: Path
) -> None:
    bundle, target = (
        (arm_bundle, LambdaPlatform.aws_lambda())
        if which == "arm64"
        else (host_bundle, LambdaPlatform.host())
    )
    bytecode = target.bytecode
    if bytecode is None:  # no interpreter of the runtime's Python here: source only
        assert _pycs(bundle) == []
        return
    assert bytecode.cache_tag == f"cpython-{target.python_version.replace('.', '')}"
    for pyc in _pycs(bundle):
        # Only beside the source, named for the runtime's Python, with its magic number.
        assert pyc.parent.name == "__pycache__", pyc
        assert pyc.name.split(".")[-2] == bytecode.cache_tag, pyc
        assert pyc.read_bytes()[:4].hex() == bytecode.magic_number, pyc
    # And every module has its bytecode.
    missing = [
        p
        for p in bundle.rglob("*.py")
        if not (p.parent / "__pycache__" / f"{p.stem}.{bytecode.cache_tag}.pyc").is_file()
    ]
    assert missing == []
