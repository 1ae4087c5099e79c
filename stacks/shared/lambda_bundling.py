"""Docker-free bundling of Python Lambda code: pip installs wheels for the target.

``PythonFunction`` (alpha) always needs Docker. Here pip fetches binary wheels
built for the function's platform (``--platform``/``--python-version``/
``--only-binary``) straight into the asset folder, so the host's own
architecture and interpreter do not matter.

The installed dependencies are then trimmed (``PackageTrim``): what the function
never imports goes, so every deploy uploads less and every cold start unpacks
less. What is dropped, and why each entry is safe, is data in one place below
(``COMMON_DROPS``, ``INVOKER_TRIM``); ``tests/infra/test_package_*.py`` prove
the trimmed package still imports and serves a call.

Last, the whole asset is compiled to bytecode by an interpreter of the
runtime's own Python version (``RuntimeBytecode``): Lambda's ``/var/task`` is
read-only, so without it every cold start compiles every module from source
and can never keep the result.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Pure contracts shared with the stacks and the CLI, copied into every function's
# asset so that the function still ships alone (``lambda/`` imports nothing else
# of the project).
CONTRACTS_DIR = PROJECT_ROOT / "contracts"
# The tenant client library's package: the invoker calls Bedrock and writes usage
# records with the very code tenant workloads install (``client/``), so it ships
# a copy too, beside the contracts.
CLIENT_PACKAGE_DIR = PROJECT_ROOT / "client" / "src" / "bedrock_tenant_client"
# The project packages each function's asset gets a copy of (by the function's
# folder name); any other function gets the contracts only.
FUNCTION_SHARED_PACKAGES: dict[str, tuple[Path, ...]] = {
    "bedrock_invoker": (CONTRACTS_DIR, CLIENT_PACKAGE_DIR),
}


def shared_packages_for(source_dir: Path) -> tuple[Path, ...]:
    """The project packages copied into the asset of the function at ``source_dir``."""
    return FUNCTION_SHARED_PACKAGES.get(source_dir.name, (CONTRACTS_DIR,))


# Each function's own lock of every transitive version, next to its requirements:
# the function runs the very langchain-core, botocore and pydantic-core the tests
# ran against, not whatever pip resolves on the day of the deploy.
LOCK_FILE = "requirements.lock"

_SOURCE_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "requirements.txt", LOCK_FILE, ".*")


@dataclass(frozen=True)
class Drop:
    """Paths (a glob relative to the package root) deleted from installed dependencies."""

    pattern: str
    why: str


@dataclass(frozen=True)
class DeferredImport:
    """A dependency module's top-level ``from <imported> import ...`` moved into the
    functions that use the names (``deferred_import_source``)."""

    module: str  # the dotted module whose source is rewritten
    imported: str  # the dotted module it imports from
    why: str


@dataclass(frozen=True)
class PackageTrim:
    """What is deleted from a function's pip-installed dependencies after the install.

    ``drops`` are path globs; ``distributions`` are whole distributions (every file
    their ``RECORD`` lists) the function never imports; ``botocore_services``, when
    set, are the only ``botocore/data/<service>`` folders kept (the top-level data
    files, such as ``endpoints.json``, always stay); ``lazy_inits`` are packages
    (dotted names) whose ``__init__.py`` is shipped as a lazy module
    (``lazy_init_source``); ``deferred_imports`` are module-level imports moved into
    the functions that use them (``deferred_import_source``). Every entry says why
    it is safe.
    """

    drops: tuple[Drop, ...]
    distributions: Mapping[str, str] = field(default_factory=dict)
    botocore_services: Mapping[str, str] | None = None
    lazy_inits: Mapping[str, str] = field(default_factory=dict)
    deferred_imports: tuple[DeferredImport, ...] = ()

    def describe(self) -> str:
        """A stable text of the rules: part of the asset hash, so new rules mean a new asset."""
        return json.dumps(
            {
                "drops": [d.pattern for d in self.drops],
                "distributions": sorted(self.distributions),
                "botocore_services": (
                    None if self.botocore_services is None else sorted(self.botocore_services)
                ),
                "lazy_inits": sorted(self.lazy_inits),
                "deferred_imports": sorted(
                    f"{d.module}<{d.imported}" for d in self.deferred_imports
                ),
            }
        )

    def apply(self, root: Path) -> None:
        """Delete what the rules name from the dependencies installed in ``root``."""
        for name in self.distributions:
            _remove_distribution(root, name)
        if self.botocore_services is not None:
            data = root / "botocore" / "data"
            if data.is_dir():
                for service in data.iterdir():
                    if service.is_dir() and service.name not in self.botocore_services:
                        shutil.rmtree(service)
        for drop in self.drops:
            for path in sorted(root.glob(drop.pattern), reverse=True):
                # Licences and metadata stay: they are what the package is.
                if any(part.endswith(".dist-info") for part in path.relative_to(root).parts):
                    continue
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
        for package in self.lazy_inits:
            init = root.joinpath(*package.split("."), "__init__.py")
            if not init.is_file():
                continue  # not installed, as a drop matching nothing (a real bundle's test checks)
            init.write_text(lazy_init_source(init.read_text(), package, init.parent))
        for deferred in self.deferred_imports:
            module = root.joinpath(*deferred.module.split(".")).with_suffix(".py")
            if not module.is_file():
                continue  # not installed, as a drop matching nothing (a real bundle's test checks)
            module.write_text(
                deferred_import_source(module.read_text(), deferred.module, deferred.imported)
            )


def _remove_distribution(root: Path, name: str) -> None:
    """Delete every file an installed distribution's RECORD lists, then its empty folders."""
    wanted = name.lower().replace("-", "_")
    for dist in importlib.metadata.distributions(path=[str(root)]):
        if dist.metadata["Name"].lower().replace("-", "_") != wanted:
            continue
        folders: set[Path] = set()
        for entry in dist.files or ():
            path = (root / entry).resolve()
            if root.resolve() not in path.parents:
                continue  # a console script pip put outside the target (none here)
            folders.update(p for p in path.parents if root.resolve() in p.parents)
            path.unlink(missing_ok=True)
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()


class LazyInitError(ValueError):
    """A package ``__init__`` the lazy rewrite cannot keep equivalent (its dependency changed)."""


def lazy_init_source(source: str, package: str, package_dir: Path) -> str:
    """The source of a package ``__init__`` whose re-exports are imported on first use.

    Every top-level ``from <this package's submodule> import name`` of ``source``
    becomes an entry of a PEP 562 module ``__getattr__``: the submodule is imported
    when the name is first read (``from package import name`` included), and the
    value is then bound in the module, so it is the very object the eager import
    bound. Submodules the original imported from stay reachable as attributes.
    Everything else (other imports, code with side effects such as langchain-aws'
    boto3 user-agent patch, an ``__getattr__`` of its own, which becomes the
    fallback) is kept, in order. ``__all__`` is kept; where there was none it lists
    the re-exported names, so ``import *`` still gives them.

    Raises ``LazyInitError`` where the rewrite would not be equivalent: kept code
    reads a re-exported name (a global lookup never reaches ``__getattr__``), a
    re-exported name is also a submodule's (importing the submodule would rebind
    it), or the module defines ``__dir__``. A new release of the dependency that
    does any of these fails the synth instead of shipping a changed package.
    """
    tree = ast.parse(source)
    header: list[ast.stmt] = []
    kept: list[ast.stmt] = []
    lazy: dict[str, tuple[str, str | None]] = {}
    submodules: dict[str, str] = {}
    for index, statement in enumerate(tree.body):
        if (
            index == 0
            and isinstance(statement, ast.Expr)
            and isinstance(statement.value, ast.Constant)
        ):
            header.append(statement)  # the docstring
            continue
        if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
            header.append(statement)
            continue
        origin = _submodule_of(statement, package)
        if origin is None:
            kept.append(statement)
            continue
        assert isinstance(statement, ast.ImportFrom)
        for alias in statement.names:
            if origin == package:  # ``from . import submodule``
                lazy[alias.asname or alias.name] = (f"{package}.{alias.name}", None)
            else:
                lazy[alias.asname or alias.name] = (origin, alias.name)
        child = origin.removeprefix(f"{package}.").split(".")[0]
        if origin != package:
            submodules.setdefault(child, f"{package}.{child}")
    names_read = {
        node.id
        for statement in kept
        if not _is_type_checking_block(statement)
        for node in ast.walk(statement)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }
    if names_read & lazy.keys():
        raise LazyInitError(
            f"{package}: the rest of __init__ reads {sorted(names_read & lazy.keys())}"
        )
    on_disk = {p.stem for p in package_dir.glob("*.py")} | {
        p.name for p in package_dir.iterdir() if (p / "__init__.py").is_file()
    }
    reexported = {name for name, (_, attribute) in lazy.items() if attribute is not None}
    if clashes := reexported & on_disk:
        raise LazyInitError(f"{package}: names that are also submodules: {sorted(clashes)}")
    defined = {
        name
        for statement in kept
        for node in ast.walk(statement)
        for name in (
            [node.name]
            if isinstance(node, ast.FunctionDef)
            else [t.id for t in node.targets if isinstance(t, ast.Name)]
            if isinstance(node, ast.Assign)
            else []
        )
    }
    if "__dir__" in defined:
        raise LazyInitError(f"{package}: defines __dir__ of its own")
    fallback = None
    for statement in kept:
        if isinstance(statement, ast.FunctionDef) and statement.name == "__getattr__":
            statement.name = fallback = "_eager_module_getattr"
    attributes = {name: submodules[name] for name in submodules if name not in lazy}
    table = {**{n: (m, None) for n, m in attributes.items()}, **lazy}
    exports = (
        ""
        if "__all__" in defined
        else f"__all__ = {sorted(n for n in lazy if not n.startswith('_'))!r}\n"
    )
    missing = (
        f"return {fallback}(name)"
        if fallback
        else 'raise AttributeError(f"module {__name__!r} has no attribute {name!r}")'
    )
    generated = f"""
# Generated by the bundler (stacks/shared/lambda_bundling.py, lazy_init_source)
# from this package's own __init__.py: its re-exports are imported on first use.
import importlib as _lazy_importlib

_LAZY_ATTRIBUTES = {table!r}
{exports}

def __getattr__(name):
    if name not in _LAZY_ATTRIBUTES:
        {missing}
    module, attribute = _LAZY_ATTRIBUTES[name]
    value = _lazy_importlib.import_module(module)
    if attribute is not None:
        value = getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY_ATTRIBUTES))
"""
    return (
        "\n".join(
            [ast.unparse(ast.Module(body=header, type_ignores=[])), generated]
            + [ast.unparse(statement) for statement in kept]
        )
        + "\n"
    )


def _submodule_of(statement: ast.stmt, package: str) -> str | None:
    """The module of this package a ``from ... import`` reads, or None for anything else."""
    if not isinstance(statement, ast.ImportFrom) or any(a.name == "*" for a in statement.names):
        return None
    if statement.level == 1:
        return f"{package}.{statement.module}" if statement.module else package
    if statement.level == 0 and statement.module and statement.module.startswith(f"{package}."):
        return statement.module
    return None


def _is_type_checking_block(statement: ast.stmt) -> bool:
    """``if TYPE_CHECKING:`` with no else: never run, read only by type checkers."""
    return (
        isinstance(statement, ast.If)
        and isinstance(statement.test, ast.Name)
        and statement.test.id == "TYPE_CHECKING"
        and not statement.orelse
    )


class DeferredImportError(ValueError):
    """A module-level import the rewrite cannot move without changing what the module does."""


def deferred_import_source(source: str, module: str, imported: str) -> str:
    """The source of ``module`` with its one top-level ``from <imported> import a, b``
    moved into the functions (and methods) that read those names.

    Each top-level function whose body reads one of the names gets, as its first
    statement (after its docstring), ``from <imported> import`` the names it reads:
    ``<imported>`` is then imported when such a function first runs, as LangChain's
    own code does for optional paths. The rest of the file is left as written (only
    lines move). Raises ``DeferredImportError`` where that would not be equivalent:
    no such import or more than one, a ``*`` import, a name read or bound outside a
    function body (module or class level, a decorator, a default, an annotation,
    which pydantic and ``get_type_hints`` evaluate), or listed in ``__all__``. A new
    release of the dependency that does any of these fails the synth instead of
    shipping a changed package.
    """
    tree = ast.parse(source)
    statements = [
        s
        for s in tree.body
        if isinstance(s, ast.ImportFrom) and s.level == 0 and s.module == imported
    ]
    if len(statements) != 1 or any(a.name == "*" for a in statements[0].names):
        raise DeferredImportError(f"{module}: not one plain `from {imported} import ...`")
    statement = statements[0]
    names = {alias.asname or alias.name: alias for alias in statement.names}

    def reads(node: ast.AST) -> set[str]:
        return {
            n.id
            for n in ast.walk(node)
            if isinstance(n, ast.Name) and n.id in names and isinstance(n.ctx, ast.Load)
        }

    bound_or_read_outside: set[str] = set()
    users: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, set[str]]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if child is statement:
                continue
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                # Decorators, defaults and annotations run (or are read) outside the body.
                outside = [
                    *child.decorator_list,
                    child.args,
                    *([child.returns] if child.returns else []),
                ]
                for part in outside:
                    bound_or_read_outside.update(
                        n.id for n in ast.walk(part) if isinstance(n, ast.Name) and n.id in names
                    )
                body_reads = set().union(*(reads(s) for s in child.body))
                if body_reads:
                    users.append((child, body_reads))
                continue
            if isinstance(child, ast.Name) and child.id in names:
                bound_or_read_outside.add(child.id)
            if isinstance(child, ast.alias) and (child.asname or child.name) in names:
                bound_or_read_outside.add(child.asname or child.name)
            visit(child)

    visit(tree)
    # A name bound anywhere else (an assignment, a global, a nested import) is refused too.
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in names and not isinstance(node.ctx, ast.Load):
            bound_or_read_outside.add(node.id)
        if isinstance(node, ast.Global | ast.Nonlocal):
            bound_or_read_outside.update(set(node.names) & names.keys())
        if isinstance(node, ast.Constant) and node.value in names:
            bound_or_read_outside.add(str(node.value))  # __all__, getattr(module, "name")
    if bound_or_read_outside:
        raise DeferredImportError(
            f"{module}: {sorted(bound_or_read_outside)} are used outside a function body"
        )
    lines = source.splitlines(keepends=True)
    if statement.end_lineno is None or any(
        other is not statement
        and other.lineno <= statement.end_lineno
        and (other.end_lineno or other.lineno) >= statement.lineno
        for other in tree.body
    ):
        raise DeferredImportError(f"{module}: the import shares its lines with other code")
    insertions: list[tuple[int, str]] = []
    for function, used in users:
        first = function.body[0]
        docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
        anchor = function.body[1] if docstring and len(function.body) > 1 else first
        if anchor.lineno == function.lineno or (docstring and anchor is first):
            raise DeferredImportError(f"{module}: {function.name} has no body of its own lines")
        imports = ", ".join(
            f"{names[n].name} as {n}" if names[n].asname else n for n in sorted(used)
        )
        indent = " " * anchor.col_offset
        # A decorated statement starts at its first decorator, not at its ``def``.
        starts = [anchor.lineno, *(d.lineno for d in getattr(anchor, "decorator_list", []))]
        insertions.append(
            (
                min(starts) - 1,
                f"{indent}from {imported} import {imports}  # deferred by the bundler\n",
            )
        )
    # Every edit at its line in the original, applied from the end up.
    edits: list[tuple[int, list[str]]] = [(i, [line]) for i, line in insertions]
    edits.append((statement.lineno - 1, []))
    for index, replacement in sorted(edits, key=lambda edit: edit[0], reverse=True):
        removed = statement.end_lineno - statement.lineno + 1 if not replacement else 0
        lines[index : index + removed] = replacement
    rewritten = "".join(lines)
    ast.parse(rewritten)  # a SyntaxError here is a bug of this rewrite: fail the synth
    return rewritten


# Dropped from every function's dependencies: nothing here is imported at run time.
COMMON_DROPS: tuple[Drop, ...] = (
    Drop("**/tests", "dependencies' own test suites; only their test runners import them"),
    Drop(
        "**/__pycache__",
        "bytecode pip or a wheel brought (pip runs --no-compile): the bundle compiles its own "
        "for the runtime's Python, never the bundling interpreter's (RuntimeBytecode)",
    ),
    Drop("**/*.pyi", "type stubs: read by type checkers, never by the interpreter"),
    Drop("*-stubs", "stub-only packages (PEP 561, e.g. jsonpatch-stubs): type checkers only"),
    Drop("**/*.c", "C sources shipped beside their compiled extension (websockets)"),
    Drop("**/*.pyx", "Cython sources shipped beside their compiled extension"),
    Drop("**/*.rst", "documentation (boto3's examples)"),
    Drop("**/*.md", "documentation; licences in *.dist-info are kept"),
    Drop("bin", "console scripts pip writes; Lambda runs the handler, never a script"),
)

# The invoker's own trim. Its AWS calls (lambda/bedrock_invoker/invoker): sts
# (AssumeRole into the operations account, ops_credentials.py), bedrock-runtime
# (Converse, chat.py), logs (CreateLogStream/PutLogEvents, usage/writer.py) and
# bedrock (the lazily built control-plane client ChatBedrockConverse asks for:
# GetInferenceProfile for application inference profiles) and ssm (the tenant's
# profile ARNs in its operations account, inference_profiles.py).
INVOKER_TRIM = PackageTrim(
    drops=(
        *COMMON_DROPS,
        Drop("boto3/data/*", "boto3 resource models: the function builds clients, never resources"),
        Drop("boto3/examples", "documentation"),
    ),
    distributions={
        # Pulled in by langchain-aws for embeddings and vector stores; ChatBedrockConverse
        # never imports it (tests/infra/test_package_trim.py checks sys.modules after a call).
        "numpy": "only langchain-aws' embeddings/vector stores import it, never Converse",
        # langsmith imports it inside ``try/except ImportError`` and needs it only to
        # compress traces it uploads to LangSmith; the function never traces.
        "zstandard": "langsmith's optional trace compression; the import is guarded",
    },
    botocore_services={
        "sts": "AssumeRole into the operations account",
        "bedrock-runtime": "Converse",
        "logs": "CreateLogStream and PutLogEvents of usage records",
        "bedrock": "GetInferenceProfile (ChatBedrockConverse, application inference profiles)",
        "ssm": "GetParameter of the tenant's inference profile ARNs (operations account)",
    },
    # Re-export-only package inits that import what the Converse path never runs;
    # shipped lazy (lazy_init_source), every public name still importable. Upstream
    # made the embeddings and vector stores lazy (langchain-ai/langchain-aws#949)
    # but not the chat models, llms and retrievers.
    lazy_inits={
        "langchain_aws": "imports the legacy ChatBedrock, BedrockLLM and the retrievers",
        "langchain_aws.chat_models": "imports the legacy ChatBedrock beside ChatBedrockConverse",
        "langsmith.types": (
            "imports every LangSmith API model (hundreds of pydantic classes) where "
            "langsmith.run_trees needs one Literal (run_select_field)"
        ),
    },
    deferred_imports=(
        DeferredImport(
            "langchain_aws.chat_models.bedrock_converse",
            "langchain_aws.function_calling",
            "its output parsers serve with_structured_output only; importing them at "
            "module level imports langchain_core.prompts, yaml and jinja2 (about 5% of "
            "init) for a Converse call that never uses them",
        ),
    ),
)

# Per function, by source folder name. A function not listed gets only the common
# drops: the guard installs no dependencies (it uses the runtime's boto3), so for
# it they match nothing and its asset is its source plus the contracts.
FUNCTION_TRIMS: Mapping[str, PackageTrim] = {"bedrock_invoker": INVOKER_TRIM}
DEFAULT_TRIM = PackageTrim(drops=COMMON_DROPS)


def trim_for(source_dir: Path) -> PackageTrim:
    """The trim rules of the function whose source is ``source_dir``."""
    return FUNCTION_TRIMS.get(source_dir.name, DEFAULT_TRIM)


@dataclass(frozen=True)
class LambdaPlatform:
    """What a function's package is built for and run on."""

    architecture: lambda_.Architecture
    machine: str  # "aarch64" or "x86_64", as in wheel platform tags
    python_version: str  # "3.12"
    # An interpreter of ``python_version`` to compile the bundle's bytecode with;
    # None: looked for (``find_runtime_bytecode``).
    runtime_python: Path | None = None

    @property
    def pip_platforms(self) -> tuple[str, ...]:
        """Wheel tags the target's glibc accepts. Lambda's Python 3.12 runs on Amazon
        Linux 2023 (glibc 2.34); newer wheels (numpy 2.3+) ship only manylinux_2_28."""
        return (f"manylinux_2_28_{self.machine}", f"manylinux2014_{self.machine}")

    @property
    def runtime(self) -> lambda_.Runtime:
        return lambda_.Runtime(f"python{self.python_version}", lambda_.RuntimeFamily.PYTHON)

    @property
    def bytecode(self) -> RuntimeBytecode | None:
        """The bytecode the bundle ships, or None where no interpreter of the runtime's
        version is at hand (the bundle then ships source only)."""
        return find_runtime_bytecode(self.python_version, self.runtime_python)

    @classmethod
    def aws_lambda(cls, *, runtime_python: Path | None = None) -> LambdaPlatform:
        """What the product deploys to AWS: Graviton, Python 3.12."""
        return cls(lambda_.Architecture.ARM_64, "aarch64", "3.12", runtime_python)

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
            Path(sys.executable),
        )


# Printed by the interpreter found, to check it is the runtime's: its
# implementation, version, the tag in its pyc names and its bytecode magic number.
_PROBE = (
    "import sys, importlib.util; print(sys.implementation.name, '%d.%d' % sys.version_info[:2], "
    "sys.implementation.cache_tag, importlib.util.MAGIC_NUMBER.hex())"
)


@dataclass(frozen=True)
class RuntimeBytecode:
    """Bytecode for one CPython version, compiled into a bundle by an interpreter of it.

    The pycs sit beside their source (``__pycache__/*.cpython-312.pyc``), for every
    module, dependencies included: the package stays well inside its size target
    (docs/PERFORMANCE.md has the figures of the sourceless alternative), tracebacks
    keep their source lines, and nothing that reads a module's own source (inspect,
    pydantic's docstrings) can break. They are ``unchecked-hash`` pycs (PEP 552):
    the asset zip carries no real mtimes, so timestamp pycs would be judged stale
    and recompiled on every cold start, and Lambda's files never change once
    deployed, so there is nothing to check.
    """

    interpreter: Path
    cache_tag: str  # "cpython-312": in every pyc's name; the import system loads no other
    magic_number: str  # hex; changes whenever the bytecode format does

    def describe(self) -> str:
        """What the bundle's bytecode is: part of the asset hash (not where the interpreter is)."""
        return f"{self.cache_tag}|{self.magic_number}|unchecked-hash|beside-source"

    def compile(self, root: Path) -> None:
        """Compile every module under ``root`` in place.

        A module that does not compile (a dependency's file for another Python,
        never imported) is left as source and said on stderr, not fatal: it would
        fail at import all the same, and the rest of the bundle keeps its bytecode.
        """
        done = subprocess.run(
            [
                str(self.interpreter),
                "-I",  # no PYTHON* variables, no user site: the same pycs on every machine
                "-m",
                "compileall",
                "-q",
                "-j",
                "0",
                "--invalidation-mode",
                "unchecked-hash",
                # The pycs name their files relative to the package root, not the
                # bundling folder (the import system points them at the real file).
                "-s",
                str(root),
                str(root),
            ],
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            failed = [line for line in done.stdout.splitlines() if line.startswith("***")]
            print(
                f"note: {self.interpreter} did not compile every module of the bundle "
                f"(exit {done.returncode}); those ship as source: {'; '.join(failed[:5])}",
                file=sys.stderr,
            )


def _probe(interpreter: Path) -> tuple[str, str, str, str] | None:
    try:
        done = subprocess.run(
            [str(interpreter), "-I", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None  # a pyenv shim of a version not selected, a broken link...
    fields = done.stdout.split()
    return (fields[0], fields[1], fields[2], fields[3]) if len(fields) == 4 else None


def _interpreters_of(python_version: str) -> Iterator[Path]:
    """Where an interpreter of ``python_version`` may be, without a network: this one,
    ``python3.X`` on PATH, then pyenv's and uv's installs (newest patch first)."""
    yield Path(sys.executable)
    on_path = shutil.which(f"python{python_version}")
    if on_path:
        yield Path(on_path)
    installs = [
        *Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv").glob(
            f"versions/{python_version}.*/bin/python{python_version}"
        ),
        *(Path.home() / ".local/share/uv/python").glob(
            f"cpython-{python_version}.*/bin/python{python_version}"
        ),
    ]

    def patch_level(path: Path) -> tuple[int, ...]:
        release = path.parents[1].name.removeprefix("cpython-").split("-")[0]
        return tuple(int(p) if p.isdigit() else -1 for p in release.split("."))

    yield from sorted(installs, key=patch_level, reverse=True)


class RuntimePythonError(ValueError):
    """The interpreter named for the bytecode is not the runtime's Python."""


@functools.cache
def find_runtime_bytecode(
    python_version: str, runtime_python: Path | None = None
) -> RuntimeBytecode | None:
    """The bytecode an interpreter of ``python_version`` (CPython) compiles, or None.

    ``runtime_python``, when given, is the only candidate, and one of another
    version is an error. Otherwise the first of ``_interpreters_of`` whose version
    matches is used; with none, the bundles ship without bytecode, said once per
    synth on stderr (bytecode of another version would be ignored at best).
    """
    candidates = [runtime_python] if runtime_python else _interpreters_of(python_version)
    for candidate in candidates:
        found = _probe(candidate)
        if found and found[0] == "cpython" and found[1] == python_version:
            return RuntimeBytecode(candidate, cache_tag=found[2], magic_number=found[3])
    if runtime_python:
        raise RuntimePythonError(
            f"runtime_python: {runtime_python} is not CPython {python_version} "
            f"(it reports {_probe(runtime_python) or 'nothing'})"
        )
    print(
        f"note: no CPython {python_version} found (python{python_version} on PATH, pyenv, uv, "
        "or the runtime_python context key): Lambda packages ship without bytecode, "
        "so every cold start compiles them from source",
        file=sys.stderr,
    )
    return None


@dataclass(frozen=True)
class BundleCache:
    """Bundles already built, by a key over everything that goes into them.

    Every synth into a fresh ``cdk.out`` (each test that bundles, each
    ``tenantctl`` deploy) would otherwise run pip and the compiler again for an
    unchanged function. An entry is a finished bundle, copied (never linked: the
    asset folder is the caller's to change) into the asset folder; a failed copy
    (an entry evicted meanwhile) falls back to building. Only the ``keep`` most
    recently used entries are kept.
    """

    root: Path
    keep: int = 6

    def restore(self, key: str, output_dir: Path) -> bool:
        """Copy the entry ``key`` into ``output_dir``; False when there is none whole."""
        entry = self.root / key
        if not entry.is_dir():
            return False
        try:
            shutil.copytree(entry, output_dir, symlinks=True, dirs_exist_ok=True)
            # An entry something changed since (make clean's __pycache__ sweep, a
            # partial eviction) is not the bundle that was built: build again.
            if _inventory(output_dir) != (self.root / f"{key}.inventory").read_text():
                raise OSError(f"bundle cache entry {key} changed since it was stored")
            os.utime(entry)  # most recently used
        except OSError:
            shutil.rmtree(entry, ignore_errors=True)
            for child in output_dir.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
            return False
        return True

    def store(self, key: str, built: Path) -> None:
        """Keep a copy of ``built`` as the entry ``key`` (complete or absent)."""
        self.root.mkdir(parents=True, exist_ok=True)
        incoming = Path(tempfile.mkdtemp(dir=self.root, prefix=".incoming-"))
        try:
            shutil.copytree(built, incoming / "bundle", symlinks=True)
            # A rename is atomic: a concurrent synth sees the whole entry or none.
            (self.root / f"{key}.inventory").write_text(_inventory(built))
            (incoming / "bundle").rename(self.root / key)
            os.utime(self.root / key)  # copytree kept the built folder's time
        except OSError:
            pass  # another synth stored the same key first
        finally:
            shutil.rmtree(incoming, ignore_errors=True)
        self._evict()

    def _evict(self) -> None:
        entries = sorted(
            (p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for stale in entries[self.keep :]:
            shutil.rmtree(stale, ignore_errors=True)
            (self.root / f"{stale.name}.inventory").unlink(missing_ok=True)


def _inventory(folder: Path) -> str:
    """Every file under ``folder`` with its size: what a cache entry must still hold."""
    return "\n".join(
        f"{path.relative_to(folder).as_posix()} {path.stat().st_size}"
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    )


# Under the project, gitignored. An entry damaged since it was stored (``make clean``
# sweeps every ``__pycache__`` under the project) fails its inventory and is rebuilt.
DEFAULT_BUNDLE_CACHE = BundleCache(PROJECT_ROOT / ".cache" / "lambda-bundles")


@jsii.implements(ILocalBundling)
class PipInstallBundling:
    """Copies the function source and pip-installs its requirements for the target."""

    def __init__(
        self,
        source_dir: Path,
        target: LambdaPlatform,
        *,
        trim: PackageTrim | None = None,
        cache: BundleCache | None = None,
    ) -> None:
        """``cache``: where finished bundles are kept and found (None: built every time)."""
        self._source_dir = source_dir
        self._target = target
        self._trim = trim if trim is not None else trim_for(source_dir)
        self._cache = cache

    def cache_key(self) -> str | None:
        """Everything the bundle is made of: the asset's own hash inputs (source, lock,
        contracts, target, bytecode), these trim rules, this bundler's code and the
        pip and Python that install. None without a lock: pip's resolution would
        then depend on the day, so the bundle is never reused."""
        if (self._source_dir / "requirements.txt").exists() and not (
            self._source_dir / LOCK_FILE
        ).exists():
            return None
        digest = hashlib.sha256()
        digest.update(source_fingerprint(self._source_dir, self._target).encode())
        digest.update(self._trim.describe().encode())
        digest.update(Path(__file__).read_bytes())
        digest.update(f"{sys.version}|pip {importlib.metadata.version('pip')}".encode())
        return digest.hexdigest()

    def install_dependencies(self, output_dir: str) -> None:
        """pip-install the function's requirements under its lock, untrimmed."""
        requirements = self._source_dir / "requirements.txt"
        lock = self._source_dir / LOCK_FILE
        if not requirements.exists():
            return
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

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        key = self.cache_key() if self._cache is not None else None
        if (
            key is not None
            and self._cache is not None
            and self._cache.restore(key, Path(output_dir))
        ):
            return True
        self.install_dependencies(output_dir)
        self.finish(output_dir)
        if key is not None and self._cache is not None:
            self._cache.store(key, Path(output_dir))
        return True

    def finish(self, output_dir: str) -> None:
        """Trim the installed dependencies, add the function source and the shared packages,
        then compile it all for the runtime's Python (where an interpreter of it is at hand)."""
        # Before the source is copied in: the rules are for dependencies only.
        self._trim.apply(Path(output_dir))
        shutil.copytree(self._source_dir, output_dir, dirs_exist_ok=True, ignore=_SOURCE_IGNORE)
        for package in shared_packages_for(self._source_dir):
            shutil.copytree(
                package, Path(output_dir) / package.name, dirs_exist_ok=True, ignore=_SOURCE_IGNORE
            )
        bytecode = self._target.bytecode
        if bytecode is not None:
            bytecode.compile(Path(output_dir))


def python_function_code(source_dir: Path, target: LambdaPlatform) -> lambda_.Code:
    """A function's code asset, bundled locally for ``target``.

    The asset hash covers the source (requirements and lock included), the
    contracts package, the target, the trim rules and the bytecode (its Python
    version and kind, or none), so an unchanged function is not re-bundled
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
            local=cast(
                ILocalBundling,
                PipInstallBundling(source_dir, target, cache=DEFAULT_BUNDLE_CACHE),
            ),
        ),
    )


def source_fingerprint(source_dir: Path, target: LambdaPlatform) -> str:
    """A stable hash of the function source, the shared packages, the target platform, the
    function's trim rules (changed rules ship a new asset) and the bytecode shipped."""
    digest = hashlib.sha256()
    digest.update(f"{target.machine}|{target.python_version}".encode())
    digest.update(trim_for(source_dir).describe().encode())
    bytecode = target.bytecode
    digest.update(f"bytecode:{bytecode.describe() if bytecode else 'none'}".encode())
    for root in (source_dir, *shared_packages_for(source_dir)):
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(f"{root.name}/{path.relative_to(root).as_posix()}".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()
