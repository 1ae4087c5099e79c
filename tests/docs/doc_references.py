"""What README.md and docs/*.md name, checked against what exists.

A doc names something in four ways this module checks, each against the thing
itself rather than a list kept beside it:

- a repository path (``stacks/customer/invoker_function.py``,
  ``tests/integration/cli/test_doctor.py::test_x``): the file, and the test in it;
- a Python name the docs attribute to the project: a dotted path rooted in one
  of its packages (``contracts.usage_record.new_record``,
  ``invoker.callback.UsageCallback``), a class-qualified member
  (``TenantRegistry.operations_stacks()``), a ``CamelCase`` name or an
  ``UPPER_SNAKE`` constant, and a ``function()``: found by reading the source
  (no import, so nothing runs);
- ``tenantctl`` commands and options: walked through the real Typer app, hidden
  aliases included;
- ``make`` targets and ``python -m`` modules.

A ``CamelCase`` name that is not the project's may be AWS's (an API operation,
shape or member in botocore's models of the services the product calls),
Python's or a library's the product imports; anything else is reported.
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib.util
import re
import shlex
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))

# Import roots: the repository, and each function's folder (its own root on Lambda).
IMPORT_ROOTS = (
    ROOT,
    ROOT / "client" / "src",
    ROOT / "lambda" / "bedrock_invoker",
    ROOT / "lambda" / "invocation_logging_guard",
)
# The services the product calls or deploys: their API names are AWS's, not stale project names.
AWS_SERVICES = (
    "bedrock",
    "bedrock-runtime",
    "ce",
    "cloudformation",
    "cloudwatch",
    "events",
    "iam",
    "kms",
    "lambda",
    "logs",
    "sns",
    "sts",
)
# Libraries whose public names the docs use (``ChatBedrockConverse``).
LIBRARY_MODULES = ("langchain_aws", "botocore.credentials", "botocore.exceptions")
# Product names written in CamelCase are not code.
PRODUCT_NAMES = frozenset(
    {
        "CloudFormation",
        "CloudTrail",
        "CloudWatch",
        "LangChain",
        "SnapStart",
        "StackSet",
        "StackSets",
    }
)
# Tools whose options a doc may quote; ``pip --no-compile`` is not tenantctl's.
OTHER_TOOLS = ("pip", "cdk", "npx", "python", "git", "aws", "compileall")

CAMEL = re.compile(r"[A-Z][a-z0-9]+[A-Z]\w*")
UPPER_SNAKE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
CALL = re.compile(r"([A-Za-z_][\w.]*)\([^()]*\)")
REPO_PATH = re.compile(r"[\w.-]+(?:/[\w.-]+)*/?(?:::\w+)?")
FILE_NAME = re.compile(r"[\w.-]+\.(?:py|json|yaml|yml|lock|txt|toml|md)(?:::\w+)?")


@dataclass(frozen=True)
class Mention:
    """One thing a doc names: the doc, the line, the text and what precedes it."""

    doc: str
    line: int
    text: str
    before: str = ""
    in_code_block: bool = False

    def problem(self, why: str) -> str:
        """A one-line report."""
        return f"{self.doc}:{self.line}: `{self.text}`: {why}"


# -- reading markdown -------------------------------------------------------------------------

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
# One backtick span, which may wrap onto the next line but not past a blank one.
_INLINE = re.compile(r"`([^`\n]+(?:\n[^`\n]+)?)`")


def inline_code(doc: str, text: str) -> list[Mention]:
    """Every backtick span outside fenced blocks, with the text just before it."""
    blanked = _FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    mentions = []
    for match in _INLINE.finditer(blanked):
        line = blanked.count("\n", 0, match.start()) + 1
        start_of_line = blanked.rfind("\n", 0, match.start()) + 1
        before = blanked[start_of_line : match.start()]
        mentions.append(Mention(doc, line, " ".join(match.group(1).split()), before))
    return mentions


def code_blocks(doc: str, text: str) -> list[tuple[str, Mention]]:
    """Each fenced block's language and its logical lines (``\\`` continuations joined)."""
    blocks = []
    for match in _FENCE.finditer(text):
        number = text.count("\n", 0, match.start(2))
        logical, starts_at = "", 0
        for raw in match.group(2).split("\n"):
            number += 1
            if not logical:
                starts_at = number
            if raw.rstrip().endswith("\\"):
                logical += raw.rstrip()[:-1] + " "
                continue
            logical += raw
            if logical.strip():
                blocks.append((match.group(1), Mention(doc, starts_at, logical.strip(), "", True)))
            logical = ""
    return blocks


# -- what exists ------------------------------------------------------------------------------


@dataclass
class ModuleNames:
    """What one module defines at top level, and the members of its classes."""

    names: set[str] = field(default_factory=set)
    classes: dict[str, set[str]] = field(default_factory=dict)
    functions: set[str] = field(default_factory=set)


def _class_members(node: ast.ClassDef) -> set[str]:
    members: set[str] = set()
    for item in ast.walk(node):
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            members.add(item.name)
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            members.add(item.target.id)
        elif isinstance(item, ast.Assign):
            members.update(t.id for t in item.targets if isinstance(t, ast.Name))
        elif isinstance(item, ast.Attribute) and isinstance(item.ctx, ast.Store):
            members.add(item.attr)  # self.record = ...
    return members


def read_module(source: str) -> ModuleNames:
    """The names ``source`` defines (imports included: they are its attributes too)."""
    found = ModuleNames()
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            found.classes[node.name] = _class_members(node)
            found.names.add(node.name)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                found.names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found.names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            found.names.update((a.asname or a.name).split(".")[0] for a in node.names)
    found.functions = {
        n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    return found


@dataclass
class Project:
    """Everything in the repository a doc may name."""

    files: set[str]
    modules: dict[str, list[Path]]
    top_dirs: set[str]
    make_targets: set[str]

    @functools.cached_property
    def _parsed(self) -> dict[Path, ModuleNames]:
        return {
            path: read_module(path.read_text(encoding="utf-8"))
            for paths in self.modules.values()
            for path in paths
        }

    def module_names(self, module: str) -> list[ModuleNames]:
        """What each file that is ``module`` defines (``handler`` is two files)."""
        return [self._parsed[path] for path in self.modules.get(module, [])]

    @functools.cached_property
    def classes(self) -> dict[str, list[set[str]]]:
        """Every class in the project, by name, with its members."""
        found: dict[str, list[set[str]]] = {}
        for names in self._parsed.values():
            for name, members in names.classes.items():
                found.setdefault(name, []).append(members)
        return found

    @functools.cached_property
    def functions(self) -> set[str]:
        """Every function and method name in the project (tests included)."""
        return {name for names in self._parsed.values() for name in names.functions}

    @functools.cached_property
    def identifiers(self) -> set[str]:
        """Every top-level, class-level or member name defined in product code."""
        found = set(self.classes) | self.functions
        for path, names in self._parsed.items():
            if not _is_test(path):
                found |= names.names
                for members in names.classes.values():
                    found |= members
        return found

    @functools.cached_property
    def strings(self) -> set[str]:
        """Every string constant in product code (env names, metric names, parameters)."""
        found: set[str] = set()
        for path in self._parsed:
            if _is_test(path):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            found |= {
                node.value
                for node in ast.walk(tree)
                if isinstance(node, ast.Constant) and isinstance(node.value, str)
            }
        return found

    def test_functions_in(self, relative_path: str) -> set[str]:
        """The functions a test file defines."""
        return read_module((ROOT / relative_path).read_text(encoding="utf-8")).functions


def _is_test(path: Path) -> bool:
    return "tests" in path.relative_to(ROOT).parts


def _tracked_files() -> set[str]:
    # Tracked and new files, not what the tools write (.gitignore).
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {line for line in listing.splitlines() if (ROOT / line).exists()}


def _modules(files: Iterable[str]) -> dict[str, list[Path]]:
    modules: dict[str, list[Path]] = {}
    for relative in sorted(files):
        if not relative.endswith(".py"):
            continue
        path = ROOT / relative
        for root in IMPORT_ROOTS:
            if root != ROOT and root not in path.parents:
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            if parts and all(part.isidentifier() for part in parts):
                modules.setdefault(".".join(parts), []).append(path)
    return modules


def _make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][\w-]*):(?!=)", makefile, re.MULTILINE))


@functools.cache
def project() -> Project:
    """The repository as it is on disk."""
    files = _tracked_files()
    return Project(
        files=files,
        modules=_modules(files),
        top_dirs={f.split("/", 1)[0] for f in files if "/" in f},
        make_targets=_make_targets(),
    )


@functools.cache
def aws_names() -> frozenset[str]:
    """Operation, shape and member names of the services the product uses (botocore's models)."""
    import botocore.session

    loader = botocore.session.get_session().get_component("data_loader")
    names: set[str] = set()
    for service in AWS_SERVICES:
        model: dict[str, Any] = loader.load_service_model(service, "service-2")
        names |= set(model["operations"]) | set(model["shapes"])
        for shape in model["shapes"].values():
            names |= set(shape.get("members", {}))
    # CloudFormation spells an API member with a capital (modelSource -> ModelSource).
    return frozenset(names | {n[:1].upper() + n[1:] for n in names})


@functools.cache
def library_names() -> frozenset[str]:
    """Python's built-in names and what the libraries in LIBRARY_MODULES export (read, not run)."""
    names = set(dir(builtins))
    for module in LIBRARY_MODULES:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin:
            names |= read_module(Path(spec.origin).read_text(encoding="utf-8")).names
    return frozenset(names)


# -- the checks -------------------------------------------------------------------------------


def check_python_name(mention: Mention, where: Project) -> list[str]:
    """A Python name in backticks: dotted path, qualified member, constant or call."""
    text = mention.text
    if FILE_NAME.fullmatch(text) or "/" in text:
        return []  # a file (`handler.py`): check_path's
    call = CALL.fullmatch(text)
    if call:
        text = call.group(1)
    if DOTTED.fullmatch(text):
        return _check_dotted(mention, text, where)
    if call and text.isidentifier() and not text[:1].isupper():
        if text in where.functions:
            return []
        return [mention.problem("no function or method of that name in the project")]
    if CAMEL.fullmatch(text) or UPPER_SNAKE.fullmatch(text.split("=", 1)[0]):
        return _check_bare(mention, text.split("=", 1)[0], where)
    return []


def _check_bare(mention: Mention, name: str, where: Project) -> list[str]:
    if name in PRODUCT_NAMES or name in where.identifiers or name in where.strings:
        return []
    if UPPER_SNAKE.fullmatch(name) and name.lower() in where.identifiers | where.strings:
        return []  # an environment variable read through a settings field of that name
    if name in aws_names() or name in library_names():
        return []
    return [mention.problem("no class, function, constant or name of that spelling in the project")]


def _check_dotted(mention: Mention, text: str, where: Project) -> list[str]:
    parts = text.split(".")
    rooted = [m for m in where.modules if "." not in m and m == parts[0]]
    if rooted and parts[0] != "app":  # `app.synth()` is the CDK App object
        return _check_module_path(mention, parts, where)
    if parts[0] in where.classes:
        if any(parts[1] in members for members in where.classes[parts[0]]):
            return []
        return [mention.problem(f"class {parts[0]} has no member {parts[1]!r}")]
    if CAMEL.fullmatch(parts[0]):
        return _check_bare(mention, parts[0], where)
    return []  # a library's module or a field path (`alarms.email`): not the project's


def _check_module_path(mention: Mention, parts: list[str], where: Project) -> list[str]:
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        if module not in where.modules:
            continue
        rest = parts[cut:]
        if not rest:
            return []
        for names in where.module_names(module):
            if rest[0] not in names.names:
                continue
            if len(rest) == 1 or rest[0] not in names.classes:
                return []
            if rest[1] in names.classes[rest[0]]:
                return []
        return [mention.problem(f"module {module} defines no {'.'.join(rest[:2])}")]
    return [mention.problem("no such module in the project")]


def check_path(mention: Mention, where: Project) -> list[str]:
    """A repository path or file name, and the test it names after ``::``."""
    text = mention.text.rstrip(".,;:)")
    path, _, test = text.partition("::")
    if "/" in path:
        if not REPO_PATH.fullmatch(text) or path.split("/", 1)[0] not in where.top_dirs:
            return []
        if not (ROOT / path).exists():
            return [mention.problem("no such file or directory in the repository")]
        if test and test not in where.test_functions_in(path):
            return [mention.problem(f"{path} defines no {test}")]
        return []
    if FILE_NAME.fullmatch(text):
        holders = [f for f in where.files if f.rsplit("/", 1)[-1] == path]
        if not holders:
            return [mention.problem("no file of that name in the repository")]
        if test and not any(test in where.test_functions_in(f) for f in holders):
            return [mention.problem(f"no {path} defines {test}")]
        return []
    name = text.removeprefix("::")
    if re.fullmatch(r"test_\w+", name) and name not in where.functions:
        return [mention.problem("no test of that name in tests/")]
    return []


def _words(command_line: str) -> list[str]:
    try:
        return shlex.split(command_line, comments=True)
    except ValueError:
        return command_line.split()


def _expand_option(word: str) -> list[str]:
    """``--models/--log-content`` and ``--[no-]snap-start`` as the options they write."""
    word = word.strip("[]").split("=", 1)[0]
    options = []
    for piece in word.split("/"):
        piece = piece.strip("[]")
        if "[no-]" in piece:
            options += [piece.replace("[no-]", ""), piece.replace("[no-]", "no-")]
        elif piece.startswith("--"):
            options.append(piece)
    return options


def _options_of(command: Any) -> dict[str, Any]:
    found = {"--help": None}
    for param in command.params:
        if param.param_type_name == "option":
            for name in [*param.opts, *param.secondary_opts]:
                found[name] = param
    return found


@functools.cache
def tenantctl_command() -> Any:
    """The real CLI, as click sees it (commands and options, hidden aliases included)."""
    import typer.main

    from tenantctl.cli import app

    return typer.main.get_command(app)


def all_tenantctl_options() -> set[str]:
    """Every option of every tenantctl command and group."""
    found: set[str] = set()
    pending = [tenantctl_command()]
    while pending:
        command = pending.pop()
        found |= set(_options_of(command))
        pending += list(getattr(command, "commands", {}).values())
    return found


_STOP_WORDS = {"|", "||", "&&", ";", ")", "#"}


def check_tenantctl(mention: Mention, words: list[str]) -> list[str]:
    """A ``tenantctl ...`` line walked through the real command tree."""
    command = tenantctl_command()
    path = ["tenantctl"]
    problems = []
    skip_value = False
    for word in words:
        if word in _STOP_WORDS or word.startswith(("$(", ")")):
            break
        if skip_value:
            skip_value = False
            continue
        if word.startswith("--") or word.startswith("[--"):
            options = _options_of(command)
            for option in _expand_option(word):
                if option not in options:
                    problems.append(mention.problem(f"`{' '.join(path)}` has no option {option}"))
                    continue
                param = options[option]
                takes_value = param is not None and not param.is_flag and not param.count
                skip_value = takes_value and "=" not in word and not word.endswith("]")
            continue
        if word.startswith("-") or word.startswith(("<", "[", "...")):
            continue
        if hasattr(command, "commands"):
            if word not in command.commands:
                problems.append(mention.problem(f"`{' '.join(path)}` has no command {word!r}"))
                break
            command = command.commands[word]
            path.append(word)
    return problems


def _tenantctl_words(line: str) -> list[str] | None:
    words = _words(line.replace("$(", " $( "))
    for index, word in enumerate(words):
        if word == "tenantctl" and (index == 0 or words[index - 1] in {"$(", "eval"}):
            return words[index + 1 :]
    return None


def check_command_line(mention: Mention, where: Project) -> list[str]:
    """``tenantctl``, ``make`` and ``python -m`` lines, each command of a ``&&`` chain."""
    commands = re.split(r"\s(?:&&|\|\||;|\|)\s", mention.text)
    if len(commands) > 1:
        return [
            problem
            for command in commands
            for problem in check_command_line(replace(mention, text=command.strip()), where)
        ]
    tenantctl_words = _tenantctl_words(mention.text)
    if tenantctl_words is not None:
        return check_tenantctl(mention, tenantctl_words)
    words = _words(mention.text)
    if words[:1] == ["make"]:
        targets = []
        for word in words[1:]:
            if word in _STOP_WORDS:
                break
            if re.fullmatch(r"[a-z][\w-]*", word):
                targets.append(word)
        return [
            mention.problem(f"the Makefile has no target {target!r}")
            for target in targets
            if target not in where.make_targets
        ]
    module = re.search(r"python\S* (?:-\w+ )*-m ([\w.]+)", mention.text)
    project_roots = {m.split(".")[0] for m in where.modules}
    if (
        module
        and module.group(1).split(".")[0] in project_roots
        and module.group(1) not in where.modules
    ):
        return [mention.problem(f"no module {module.group(1)} in the project")]
    return []


def check_bare_option(mention: Mention) -> list[str]:
    """A lone ``--option``: some tenantctl command's, unless another tool's is meant."""
    if not mention.text.startswith("--") or mention.before.rstrip().endswith(OTHER_TOOLS):
        return []
    known = all_tenantctl_options()
    return [
        mention.problem(f"no tenantctl command has the option {option}")
        for option in _expand_option(mention.text.split()[0])
        if option not in known
    ]


_MERMAID_LABEL = re.compile(r"\[\"(.*?)\"\]|\(\"(.*?)\"\)|\"([^\"]*)\"")


def mermaid_names(doc: str, text: str) -> Iterator[Mention]:
    """CamelCase words in a mermaid diagram's labels (``UsageLogger``), not after ``:``."""
    for match in _FENCE.finditer(text):
        if match.group(1) != "mermaid":
            continue
        first = text.count("\n", 0, match.start(2)) + 1
        for number, line in enumerate(match.group(2).split("\n")):
            for label in _MERMAID_LABEL.finditer(line):
                words = " ".join(part for part in label.groups() if part)
                for word in re.finditer(r"(?<![:\w])" + CAMEL.pattern, words):
                    yield Mention(doc, first + number, word.group(0), "", True)


def check_text(doc: str, text: str, where: Project | None = None) -> list[str]:
    """Every problem in one doc's text."""
    where = where or project()
    problems: list[str] = []
    for mention in inline_code(doc, text):
        problems += check_python_name(mention, where)
        problems += check_path(mention, where)
        problems += check_command_line(mention, where)
        problems += check_bare_option(mention)
    for language, mention in code_blocks(doc, text):
        if language in {"", "bash", "sh", "console"}:
            problems += check_command_line(mention, where)
    for mention in mermaid_names(doc, text):
        problems += _check_bare(mention, mention.text, where)
    return problems


def check_docs() -> list[str]:
    """Every problem in README.md and docs/*.md."""
    return [
        problem
        for doc in DOCS
        for problem in check_text(
            str(doc.relative_to(ROOT)), doc.read_text(encoding="utf-8"), project()
        )
    ]
