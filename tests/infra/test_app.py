"""app.py end to end: the example registry synthesizes; a bad one fails cleanly; the
``stacks`` filter; and CDK's own template validation, which the app turns off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app import build_app
from tests.conftest import EXAMPLE_REGISTRY, ROOT
from tests.infra.conftest import NO_BUNDLING
from tests.infra.security_registries import wide_registry


def _run_app(tmp_path: Path, registry: Path, **context: object) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        # What the CDK CLI passes to the app; bundling off keeps this test fast.
        "CDK_CONTEXT_JSON": json.dumps(
            {"registry": str(registry), "aws:cdk:bundling-stacks": [], **context}
        ),
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_example_registry_synthesizes_one_template_per_account(tmp_path: Path) -> None:
    result = _run_app(tmp_path, EXAMPLE_REGISTRY)
    assert result.returncode == 0, result.stderr
    templates = sorted(p.name for p in (tmp_path / "cdk.out").glob("*.template.json"))
    assert templates == [
        "BedrockCustomer-acme.template.json",
        "BedrockCustomer-globex.template.json",
        "BedrockOperations.template.json",
    ]
    manifest = json.loads((tmp_path / "cdk.out" / "manifest.json").read_text())
    envs = {k: v["environment"] for k, v in manifest["artifacts"].items() if "environment" in v}
    assert envs == {
        "BedrockOperations": "aws://111111111111/us-east-1",
        "BedrockCustomer-acme": "aws://222222222222/us-east-1",
        "BedrockCustomer-globex": "aws://333333333333/us-west-2",
    }
    assert "end-of-life" not in result.stderr


def test_bad_registry_prints_one_clean_line_per_problem_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "tenants.yaml"
    text = EXAMPLE_REGISTRY.read_text()
    bad.write_text(
        text.replace('account_id: "333333333333"', 'account_id: "3333"').replace(
            "region: us-west-2", "region: mars-west-2", 1
        )
    )
    result = _run_app(tmp_path, bad)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {bad}: tenants[1].account_id: must be 12 digits",
        f"error: {bad}: tenants[1].region: 'mars-west-2' is not an AWS region name (like us-east-1)",
    ]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "cdk.out").exists() or not list((tmp_path / "cdk.out").glob("*.json"))


def test_unknown_lambda_platform_is_refused(tmp_path: Path) -> None:
    result = _run_app(tmp_path, EXAMPLE_REGISTRY, lambda_platform="docker")
    assert result.returncode == 2
    assert "error: context lambda_platform: must be one of aws, host" in result.stderr


def test_stack_filter_synthesizes_only_the_selected_stacks(tmp_path: Path) -> None:
    # An exact name and a pattern, with blanks around them.
    result = _run_app(
        tmp_path, EXAMPLE_REGISTRY, stacks=" BedrockCustomer-acme , BedrockOperation* "
    )
    assert result.returncode == 0, result.stderr
    templates = sorted(p.name for p in (tmp_path / "cdk.out").glob("*.template.json"))
    assert templates == ["BedrockCustomer-acme.template.json", "BedrockOperations.template.json"]


def test_an_empty_stack_filter_means_every_stack(tmp_path: Path) -> None:
    result = _run_app(tmp_path, EXAMPLE_REGISTRY, stacks="")
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "cdk.out").glob("*.template.json"))) == 3


def test_an_unknown_stack_in_the_filter_is_refused_by_name(tmp_path: Path) -> None:
    result = _run_app(
        tmp_path, EXAMPLE_REGISTRY, stacks="BedrockCustomer-acme,BedrockCustomer-nobody"
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: context stacks: no stack named 'BedrockCustomer-nobody'"
    )
    assert "Traceback" not in result.stderr


def test_cdk_builtin_validation_finds_no_error_in_a_sample_with_every_feature(
    tmp_path: Path,
) -> None:
    """The app turns aws-cdk-lib's CloudFormation validation off for speed; here it runs.

    With cdk.json's flag ``@aws-cdk/core:validateAgainstDefaultRules`` an error
    fails the synth (in a test: raises); the report it writes must list none.
    """
    app = build_app(
        wide_registry(),
        context=NO_BUNDLING,
        outdir=str(tmp_path / "cdk.out"),
        cloud_formation_validation=True,
    )
    app.synth()
    # Written only when the validation ran (the app's own synth writes none).
    report = json.loads((tmp_path / "cdk.out" / "validation-report.json").read_text())
    violations = [
        violation
        for plugin in report["pluginReports"]
        for violation in plugin.get("violations", [])
    ]
    assert [v for v in violations if v.get("severity") in {"error", "fatal"}] == []


def test_the_limit_check_reads_the_templates_jsii_would_hand_over(tmp_path: Path) -> None:
    """app.py checks the limits on the templates read from the assembly's files, one at
    a time, not copied out of Node.js all at once: they must be the very templates."""
    from contracts.registry import load_registry
    from stacks.shared.limits import AssemblyTemplates

    assembly = build_app(
        load_registry(EXAMPLE_REGISTRY), context=NO_BUNDLING, outdir=str(tmp_path / "out")
    ).synth()
    through_jsii = {s.stack_name: s.template for s in assembly.stacks}
    from_files = AssemblyTemplates(assembly)
    assert sorted(from_files) == sorted(through_jsii) and len(from_files) == 3
    for name, template in through_jsii.items():
        assert from_files[name] == template
