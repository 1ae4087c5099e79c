"""README.md and docs/*.md name only modules, classes, commands and options that exist."""

from __future__ import annotations

import ast
import re

import pytest
from doc_references import ROOT, check_docs, check_text


def test_the_docs_name_only_what_exists() -> None:
    problems = check_docs()
    assert problems == [], "\n".join(problems)


# Each line is a doc sentence broken on purpose; the check must name what is wrong.
BROKEN = [
    ("`contracts.usage_record.new_recrod` builds it.", "defines no new_recrod"),
    ("`contracts.usage_recods` defines the schema.", "contracts defines no usage_recods"),
    (
        "Built by `bedrock_tenant_client.usage.logger.UsageLogger`.",
        "bedrock_tenant_client.usage defines no logger",
    ),
    ("The `UsageLogger` callback writes it.", "no class, function, constant"),
    ('```mermaid\nflowchart LR\n  U["UsageLogger callback"]\n```\n', "UsageLogger"),
    ("`TenantRegistry.operation_stacks()` lists them.", "has no member 'operation_stacks'"),
    ("`compose_all()` adds the stacks.", "no function or method"),
    ("See `stacks/invoker_function.py`.", "no such file or directory"),
    ("See `stacks/customer/observability/usage_alarm.py`.", "no such file or directory"),
    (
        "`tests/integration/cli/test_doctor.py::test_nothing_at_all`",
        "defines no test_nothing_at_all",
    ),
    ("Run `tenantctl onbaord acme`.", "has no command 'onbaord'"),
    ("Run `tenantctl local start`.", "has no command 'start'"),
    ("```bash\ntenantctl usage --tenant acme --group-by user\n```\n", "has no option --group-by"),
    ("`tenantctl update <id> --models/--log-contents`", "has no option --log-contents"),
    ("`tenantctl update <id> --[no-]snapstart`", "has no option --snapstart"),
    ("Pass `--tenant-profiles`.", "no tenantctl command has the option --tenant-profiles"),
    ("Run `make docs-lint`.", "no target 'docs-lint'"),
    ("```bash\nmake setup && make lok\n```\n", "no target 'lok'"),
    ("`python -m tenantctl.cli.nothing` prints it.", "no module tenantctl.cli.nothing"),
    ("The function reads `INFERENCE_PROFILE_ARN_MAP`.", "no class, function, constant"),
]


@pytest.mark.parametrize(("doc", "problem"), BROKEN, ids=[p for _, p in BROKEN])
def test_a_doc_naming_something_that_does_not_exist_fails(doc: str, problem: str) -> None:
    problems = check_text("broken.md", doc)
    assert problems, "the broken doc passed"
    assert problem in problems[0], problems
    assert all(p.startswith("broken.md:") for p in problems)


# Each of these is right, or not the project's to check, and must pass.
FINE = [
    "`contracts.usage_record.new_record` and `contracts.naming.INVOKER_ALIAS`.",
    "`bedrock_tenant_client.usage.metrics.with_metrics` and `handler.lambda_handler`.",
    "`EmbeddedCloud.request_counts()`, `TenantRegistry.operations_stacks()`.",
    "`stacks/customer/` and `tests/unit/lambda/test_usage_metrics.py` and `handler.py`.",
    "`PutLogEvents`, `ThrottlingException`, `ChatBedrockConverse`, `UnicodeDecodeError`.",
    "`LoggingConfig.LogGroup`, `ModelSource.CopyFrom` (CloudFormation's).",
    "`langsmith.run_trees`, `alarms.email` and `boto3.compat` are not the project's.",
    "`/aws/bedrock/langchain/logs`, `build/bench/`, `.tenantctl/last-deploy.json`.",
    "The bundler passes pip `--no-compile`.",
    "```bash\ntenantctl --registry x.yaml local up   # starts it\n```\n",
    '```bash\ntenantctl invoke --tenant acme --prompt "Hello" \\\n  --user-id alice --local\n```\n',
    '```bash\neval "$(tenantctl local env 111111111111)"\n```\n',
    "`tenantctl usage --tenant ID --by application\\|user\\|model\\|day [--chart out.png]`",
    "`tenantctl update <id> --[no-]snap-start --usage-sink stdout`",
    "```bash\nmake setup && source .venv/bin/activate\n```\n",
    "`python -m bench.profile_init` and `python -m tests.docs.regenerate`.",
]


@pytest.mark.parametrize("doc", FINE)
def test_what_exists_or_is_not_the_projects_passes(doc: str) -> None:
    assert check_text("fine.md", doc) == []


def _listed_modules(package: str) -> set[str]:
    docstring = ast.get_docstring(ast.parse((ROOT / package / "__init__.py").read_text()))
    return set(re.findall(r"^- ``(\w+)``", docstring or "", re.MULTILINE))


def test_the_contracts_docstring_lists_exactly_the_contracts_modules() -> None:
    package = ROOT / "contracts"
    modules = {p.stem for p in package.glob("*.py") if not p.stem.startswith("_")}
    modules |= {p.parent.name for p in package.glob("*/__init__.py")}
    assert _listed_modules("contracts") == modules
