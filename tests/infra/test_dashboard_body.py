"""The dashboard body and alarms built as plain JSON on L1 resources, as deployed stacks have them.

The views were CDK's L2 ``Dashboard`` and ``Alarm`` before; a changed logical id
would replace the resource on the next deploy (an alarm loses its history) and
break the upgrade from per-account stacks to the StackSet, whose template must
have the customer stack's logical ids.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from aws_cdk.assertions import Template

from app import build_app
from contracts.registry import TenantRegistry, parse_registry
from stacks.customer.customer_stack_set import STACK_SET_TEMPLATE_NAME
from stacks.customer.observability.usage_dashboard import rows
from tests.infra.conftest import NO_BUNDLING, synth_templates
from tests.infra.test_observability import ALARMS_REGISTRY, dashboard_body

VIEWS = ("AWS::CloudWatch::Dashboard", "AWS::CloudWatch::Alarm", "AWS::Logs::QueryDefinition")
# The logical ids CDK's L2 constructs gave these resources, which deployed stacks have.
DEPLOYED_IDS = {
    "UsageDashboard7BF3EE17",
    "UsageAlarmsErrorRate6F6C9A79",
    "UsageAlarmsThrottles4706E0B4",
    "UsageAlarmsFunctionErrorsBD8468F9",
    "UsageAlarmsDurationAF7F4BB3",
    "UsageQueriesByApplication928BF5B3",
    "UsageQueriesByUser212E085A",
    "UsageQueriesErrors455DECD4",
    "UsageQueriesSlowestCalls10B5A4AD",
}
BUDGET_IDS = {"UsageAlarmsTokenBudget36F21A8D", "UsageAlarmsCostBudgetD84E8BEA"}
TOPIC_IDS = {"UsageAlarmsTopicA921F5D7", "UsageAlarmsTopicKey8E100681"}


def _view_ids(template: Template) -> set[str]:
    return {lid for kind in VIEWS for lid in template.find_resources(kind)}


def test_the_views_keep_the_logical_ids_deployed_stacks_have(
    templates: dict[str, Template],
) -> None:
    assert _view_ids(templates["BedrockCustomer-acme"]) == DEPLOYED_IDS


def test_budget_alarms_and_the_alarm_topic_keep_their_logical_ids() -> None:
    tuned = synth_templates(parse_registry(ALARMS_REGISTRY))["BedrockCustomer-tuned"]
    assert _view_ids(tuned) == DEPLOYED_IDS | BUDGET_IDS
    assert set(tuned.to_json()["Resources"]) >= TOPIC_IDS


def test_the_stack_set_template_has_the_customer_stacks_view_ids(
    registry: TenantRegistry, templates: dict[str, Template]
) -> None:
    app = build_app(registry, context=NO_BUNDLING, customer_stack_set=True)
    stack_set = Template.from_json(app.synth().get_stack_by_name(STACK_SET_TEMPLATE_NAME).template)
    assert _view_ids(stack_set) == _view_ids(templates["BedrockCustomer-acme"])


def _cells(widget: dict[str, Any]) -> set[tuple[int, int]]:
    return {
        (x, y)
        for x in range(widget["x"], widget["x"] + widget["width"])
        for y in range(widget["y"], widget["y"] + widget["height"])
    }


def test_the_dashboard_opens_on_a_week_with_widgets_in_rows_that_do_not_overlap(
    templates: dict[str, Template],
) -> None:
    body = dashboard_body(templates["BedrockCustomer-acme"])
    assert body["start"] == "-P7D"
    widgets = body["widgets"]
    covered: set[tuple[int, int]] = set()
    for widget in widgets:
        assert widget["x"] >= 0 and widget["x"] + widget["width"] <= 24, widget
        cells = _cells(widget)
        assert not cells & covered, f"{widget['properties'].get('title')} overlaps"
        covered |= cells
    # Read top to bottom, left to right, in the order the widgets are listed.
    assert [(w["y"], w["x"]) for w in widgets] == sorted((w["y"], w["x"]) for w in widgets)
    # No gap between rows: every row starts where the tallest of the one above ends.
    tops = sorted({w["y"] for w in widgets})
    for above, below in itertools.pairwise(tops):
        assert below == above + max(w["height"] for w in widgets if w["y"] == above)


def test_a_row_is_as_tall_as_its_tallest_widget() -> None:
    def w(width: int, height: int) -> dict[str, Any]:
        return {"type": "text", "width": width, "height": height, "properties": {}}

    placed = rows([w(12, 2), w(12, 6)], [w(24, 3)])
    assert [(p["x"], p["y"]) for p in placed] == [(0, 0), (12, 0), (0, 6)]


@pytest.mark.parametrize("tenant_id", ["acme", "globex"])
def test_the_body_names_only_its_own_tenant(templates: dict[str, Template], tenant_id: str) -> None:
    other = {"acme": "globex", "globex": "acme"}[tenant_id]
    text = str(dashboard_body(templates[f"BedrockCustomer-{tenant_id}"]))
    assert f'TenantId="{tenant_id}"' in text and other not in text
