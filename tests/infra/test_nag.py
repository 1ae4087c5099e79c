"""cdk-nag over every stack: AwsSolutions and Serverless must be clean, HIPAA and NIST are reported.

Each registry is checked twice: as deployed (acknowledgments applied) and with
every ``Validations.of(...).acknowledge`` recorded but not applied. The second
run is the "before" picture, and proves that each acknowledgment silences a
finding that really exists, on the very resource it is attached to.

The report (findings before/after by pack and rule, and every acknowledgment
with its reason) is written to ``cdk.out.nag/report.md`` and printed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aws_cdk import Acknowledgment, CfnResource, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, ServerlessChecks
from constructs import IConstruct

from app import build_app
from contracts.registry import TenantRegistry, load_registry
from tests.conftest import EXAMPLE_REGISTRY, ROOT
from tests.infra.conftest import NO_BUNDLING
from tests.infra.security_registries import wide_registry

ENFORCED: dict[str, Callable[[], Any]] = {
    "AwsSolutions": AwsSolutionsChecks,
    "Serverless": ServerlessChecks,
}
REPORTED: dict[str, Callable[[], Any]] = {
    "HIPAA": HIPAASecurityChecks,
    "NIST-800-53-R5": NIST80053R5Checks,
}
REGISTRIES: dict[str, Callable[[], TenantRegistry]] = {
    "example": lambda: load_registry(EXAMPLE_REGISTRY),
    "wide": wide_registry,
}
REPORT_PATH = ROOT / "cdk.out.nag" / "report.md"


@dataclass(frozen=True)
class Finding:
    pack: str
    rule: str
    level: str
    path: str


@dataclass(frozen=True)
class Ack:
    rule: str
    path: str
    reason: str
    on_cfn_resource: bool


@dataclass(frozen=True)
class NagRun:
    findings: tuple[Finding, ...]
    acks: tuple[Ack, ...]

    def enforced(self) -> list[Finding]:
        return [f for f in self.findings if f.pack in ENFORCED]


class _Recorder:
    def __init__(self, scope: IConstruct, apply: bool, log: list[Ack]) -> None:
        self._scope, self._apply, self._log = scope, apply, log

    def acknowledge(self, *rules: Acknowledgment) -> None:
        self._log.extend(
            Ack(r.id, self._scope.node.path, r.reason, isinstance(self._scope, CfnResource))
            for r in rules
        )
        if self._apply:
            _ORIGINAL_OF(self._scope).acknowledge(*rules)


_ORIGINAL_OF = Validations.of


def run_nag(registry: TenantRegistry, *, apply_acknowledgments: bool) -> NagRun:
    """Synthesize the whole app for ``registry`` and run all four packs over it."""
    acks: list[Ack] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Validations, "of", lambda scope: _Recorder(scope, apply_acknowledgments, acks))
        app = build_app(registry, context=NO_BUNDLING)
    findings = []
    for pack_name, pack in {**ENFORCED, **REPORTED}.items():
        report = pack().validate_scope(app)
        for violation in report.violations:
            for resource in violation.violating_resources:
                findings.append(
                    Finding(
                        pack_name, violation.rule_name, violation.severity, resource.construct_path
                    )
                )
    return NagRun(tuple(findings), tuple(acks))


@pytest.fixture(scope="module")
def runs() -> dict[str, dict[str, NagRun]]:
    """{registry: {"before": ..., "after": ...}}."""
    return {
        name: {
            "before": run_nag(make(), apply_acknowledgments=False),
            "after": run_nag(make(), apply_acknowledgments=True),
        }
        for name, make in REGISTRIES.items()
    }


@pytest.mark.parametrize("registry_name", sorted(REGISTRIES))
def test_aws_solutions_and_serverless_report_no_unacknowledged_finding(
    runs: dict[str, dict[str, NagRun]], registry_name: str
) -> None:
    left = runs[registry_name]["after"].enforced()
    assert left == [], "new cdk-nag findings:\n" + "\n".join(
        f"  {f.level} {f.rule} at {f.path}" for f in left
    )


@pytest.mark.parametrize("registry_name", sorted(REGISTRIES))
def test_every_acknowledgment_silences_a_real_finding_on_its_own_resource(
    runs: dict[str, dict[str, NagRun]], registry_name: str
) -> None:
    before = runs[registry_name]["before"]
    found = {(f.rule, f.path) for f in before.enforced()}
    acknowledged = {(a.rule, a.path) for a in before.acks}
    assert acknowledged - found == set(), "stale acknowledgments (no such finding)"
    assert found - acknowledged == set(), "findings without an acknowledgment"
    for ack in before.acks:
        assert ack.on_cfn_resource, f"{ack.rule} on {ack.path}: acknowledge on the resource"
        assert ack.rule.split("[")[0].startswith(("AwsSolutions-", "Serverless-")), ack.rule
        assert len(ack.reason) >= 60, f"{ack.rule} on {ack.path}: give a reviewer a reason"


def test_acknowledgments_are_never_stack_or_app_wide(
    runs: dict[str, dict[str, NagRun]],
) -> None:
    for by_phase in runs.values():
        for ack in by_phase["after"].acks:
            assert ack.path.count("/") >= 2, f"{ack.rule} acknowledged on {ack.path}"


def test_report_lists_findings_before_and_after_for_all_four_packs(
    runs: dict[str, dict[str, NagRun]],
) -> None:
    text = "\n".join(_report_lines(runs))
    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    REPORT_PATH.write_text(text + "\n")
    print(text)
    for pack in (*ENFORCED, *REPORTED):
        assert f"### {pack}" in text


def _report_lines(runs: dict[str, dict[str, NagRun]]) -> Iterator[str]:
    yield "# cdk-nag report"
    yield ""
    yield "AwsSolutions and Serverless fail the tests; HIPAA and NIST-800-53-R5 are informational."
    for registry_name, by_phase in runs.items():
        yield ""
        yield f"## Registry: {registry_name}"
        for pack in (*ENFORCED, *REPORTED):
            yield ""
            yield f"### {pack}"
            before = Counter(_rule_family(f) for f in by_phase["before"].findings if f.pack == pack)
            after = Counter(_rule_family(f) for f in by_phase["after"].findings if f.pack == pack)
            yield "| rule | before acknowledgments | after |"
            yield "|---|---|---|"
            for rule in sorted(before | after):
                yield f"| {rule} | {before[rule]} | {after[rule]} |"
            if not before and not after:
                yield "| (none) | 0 | 0 |"
        yield ""
        yield "### Acknowledgments"
        for ack in by_phase["after"].acks:
            yield f"- `{ack.rule}` on `{ack.path}`: {ack.reason}"


def _rule_family(finding: Finding) -> str:
    """``AwsSolutions-IAM5[Resource::...]`` counts as ``AwsSolutions-IAM5``."""
    return finding.rule.split("[")[0]
