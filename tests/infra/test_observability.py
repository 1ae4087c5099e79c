"""The tenant's dashboard, alarms and saved Logs Insights queries, as synthesized.

Every metric name, namespace and dimension is checked against
``contracts.usage_metrics``, the definition the function's EMF block uses, so
a graph or an alarm that reads a metric the records do not carry fails here.
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Template

from app import build_app
from contracts import naming
from contracts import usage_metrics as m
from contracts.registry import TenantRegistry, parse_registry
from contracts.usage_record import USAGE_EVENT, UsageRecord, new_record
from stacks.customer.customer_stack_set import STACK_SET_TEMPLATE_NAME
from stacks.customer.observability.usage_alarms import DAYS_PER_MONTH
from tests.infra.conftest import NO_BUNDLING, synth_templates
from tests.infra.test_embedded_deployable import SKIPPED_BY_MOTO

EXISTING_TOPIC = "arn:aws:sns:us-east-1:444444444444:platform-oncall"
# Every threshold differs from AlarmSettings' defaults, so a threshold that is
# not read from the registry shows.
TUNED = {
    "error_rate_percent": 2.5,
    "throttles_per_5_minutes": 3,
    "function_errors_per_5_minutes": 4,
    "duration_percent_of_timeout": 50.0,
    "monthly_token_budget": 3_000_000,
    "monthly_cost_budget_usd": 120.0,
    "email": "ml-team@example.com",
    "sns_topic_arn": EXISTING_TOPIC,
}
ALARMS_REGISTRY: dict[str, Any] = {
    "version": 1,
    "operations": {"account_id": "111111111111", "region": "us-east-1"},
    "tenants": [
        {
            "id": "tuned",
            "account_id": "222222222222",
            "region": "us-east-1",
            "external_id": "tuned-0123456789abcdef",
            "alarms": TUNED,
        },
        {
            "id": "quiet",
            "account_id": "333333333333",
            "region": "us-east-1",
            "external_id": "quiet-0123456789abcdef",
            "alarms": {"enabled": False, "email": "nobody@example.com"},
        },
        {
            "id": "paged",
            "account_id": "444444444444",
            "region": "us-east-1",
            "external_id": "paged-0123456789abcdef",
            "alarms": {"sns_topic_arn": EXISTING_TOPIC},
        },
    ],
}


@pytest.fixture(scope="module")
def alarm_registry() -> TenantRegistry:
    return parse_registry(ALARMS_REGISTRY)


@pytest.fixture(scope="module")
def alarm_templates(alarm_registry: TenantRegistry) -> dict[str, Template]:
    return synth_templates(alarm_registry)


def _placeholder(part: Any) -> str:
    """A CloudFormation reference inside the body, as text the JSON can hold."""
    if "Ref" in part:
        return f"<Ref {part['Ref']}>"
    return f"<GetAtt {'.'.join(part['Fn::GetAtt'])}>"


def dashboard_body(template: Template) -> dict[str, Any]:
    """The one dashboard's body, parsed, with references as ``<Ref X>`` / ``<GetAtt X.Y>``."""
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    if isinstance(body, dict):
        body = "".join(p if isinstance(p, str) else _placeholder(p) for p in body["Fn::Join"][1])
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def widgets_by_title(template: Template) -> dict[str, dict[str, Any]]:
    return {
        w["properties"]["title"]: w["properties"]
        for w in dashboard_body(template)["widgets"]
        if "title" in w["properties"]
    }


def alarm(template: Template, tenant_id: str, name: str) -> dict[str, Any]:
    matches = [
        r["Properties"]
        for r in template.find_resources("AWS::CloudWatch::Alarm").values()
        if r["Properties"]["AlarmName"] == naming.alarm_name(tenant_id, name)
    ]
    assert len(matches) == 1, f"{name}: {len(matches)} alarms"
    return matches[0]


def logical_id(template: Template, kind: str) -> str:
    (found,) = template.find_resources(kind)
    return found


def roll_up(metric: m.UsageMetric, tenant_id: str) -> list[str]:
    """A dashboard metric line's identity on the tenant roll-up."""
    return [m.NAMESPACE, metric.name, m.TENANT_DIMENSION, tenant_id]


def search(metric: m.UsageMetric, by: str, tenant_id: str) -> str:
    dimension_set = next(s for s in m.DIMENSION_SETS if s[-1] == by)
    schema = ",".join((m.NAMESPACE, *dimension_set))
    return (
        f'SEARCH(\'{{{schema}}} {m.TENANT_DIMENSION}="{tenant_id}" '
        f"MetricName=\"{metric.name}\"', 'Sum')"
    )


# --- dashboard ---------------------------------------------------------------------------


def test_each_tenant_has_one_dashboard_named_after_it(templates: dict[str, Template]) -> None:
    for tenant_id in ("acme", "globex"):
        t = templates[naming.customer_stack_name(tenant_id)]
        t.resource_count_is("AWS::CloudWatch::Dashboard", 1)
        t.has_resource_properties(
            "AWS::CloudWatch::Dashboard", {"DashboardName": f"bedrock-usage-{tenant_id}"}
        )


def test_tokens_and_cost_are_searched_per_application_and_model_of_this_tenant_only(
    templates: dict[str, Template],
) -> None:
    widgets = widgets_by_title(templates["BedrockCustomer-acme"])
    expected = {
        "Input tokens by application": search(m.INPUT_TOKENS, m.APPLICATION_DIMENSION, "acme"),
        "Output tokens by application": search(m.OUTPUT_TOKENS, m.APPLICATION_DIMENSION, "acme"),
        "Cost (USD) by application": search(m.COST_USD, m.APPLICATION_DIMENSION, "acme"),
        "Cost (USD) by model": search(m.COST_USD, m.MODEL_DIMENSION, "acme"),
    }
    for title, expression in expected.items():
        (line,) = widgets[title]["metrics"]
        assert line[0]["expression"] == expression, title
        # Each line is labelled with its application's (or model's) id.
        by = m.MODEL_DIMENSION if "model" in title else m.APPLICATION_DIMENSION
        assert line[0]["label"] == f"${{PROP('Dim.{by}')}}"


def test_calls_errors_latency_throttles_and_cache_read_the_tenant_roll_up(
    templates: dict[str, Template],
) -> None:
    t = templates["BedrockCustomer-acme"]
    widgets = widgets_by_title(t)
    function = f"<Ref {logical_id(t, 'AWS::Lambda::Function')}>"

    def lines(title: str) -> list[tuple[list[str], str | None]]:
        return [
            (line[:-1], line[-1].get("stat"))
            for line in widgets[title]["metrics"]
            if "expression" not in line[-1]
        ]

    assert lines("Invocations and errors") == [
        (roll_up(m.INVOCATIONS, "acme"), "Sum"),
        (roll_up(m.ERRORS, "acme"), "Sum"),
    ]
    assert widgets["Invocations and errors"]["metrics"][2][0]["expression"] == (
        "100 * errors / invocations"
    )
    assert lines("Latency (ms): p50, p90, p99") == [
        (roll_up(m.LATENCY_MS, "acme"), stat) for stat in ("p50", "p90", "p99")
    ]
    assert lines("Throttles") == [
        (roll_up(m.THROTTLES, "acme"), "Sum"),
        (["AWS/Lambda", "Throttles", "FunctionName", function], "Sum"),
    ]
    assert lines("Cache tokens: read and write") == [
        (roll_up(m.CACHE_READ_INPUT_TOKENS, "acme"), "Sum"),
        (roll_up(m.CACHE_WRITE_INPUT_TOKENS, "acme"), "Sum"),
    ]
    last_30_days = widgets["Last 30 days"]
    assert last_30_days["start"] == "-P30D" and last_30_days["setPeriodToTimeRange"] is True


def test_every_usage_metric_is_on_the_dashboard_and_nothing_else_from_its_namespace(
    templates: dict[str, Template],
) -> None:
    shown: set[str] = set()
    for widget in dashboard_body(templates["BedrockCustomer-globex"])["widgets"]:
        for line in widget["properties"].get("metrics", []):
            if line[0] == m.NAMESPACE:
                assert line[2:4] == [m.TENANT_DIMENSION, "globex"], line
                shown.add(line[1])
            elif "expression" in line[-1] and "SEARCH" in line[-1]["expression"]:
                shown.update(re.findall(r'MetricName="(\w+)"', line[-1]["expression"]))
    assert shown == {metric.name for metric in m.USAGE_METRICS}


def test_top_users_table_queries_the_usage_log_group_by_tokens(
    registry: TenantRegistry, templates: dict[str, Template]
) -> None:
    tenant = registry.tenant("acme")
    (widget,) = [
        w
        for w in dashboard_body(templates["BedrockCustomer-acme"])["widgets"]
        if w["type"] == "log"
    ]
    props = widget["properties"]
    assert props["title"] == "Top users by tokens"
    assert props["view"] == "table"
    query = props["query"]
    assert query.startswith(f"SOURCE '{tenant.usage_log_group}' | ")
    assert f'filter event = "{USAGE_EVENT}"' in query
    assert "filter not ispresent(provisional)" in query
    assert "sum(total_tokens) as tokens" in query
    assert query.endswith("by user_id\n| sort tokens desc\n| limit 10")


def test_the_dashboard_shows_the_alarms_when_there_are_any(
    templates: dict[str, Template], alarm_templates: dict[str, Template]
) -> None:
    t = templates["BedrockCustomer-acme"]
    (status,) = [w for w in dashboard_body(t)["widgets"] if w["type"] == "alarm"]
    names = {
        r["Properties"]["AlarmName"] for r in t.find_resources("AWS::CloudWatch::Alarm").values()
    }
    shown = status["properties"]["alarms"]
    assert len(names) == len(shown) == 4
    for arn in shown:
        assert arn.startswith("arn:") and ":cloudwatch:" in arn
        assert ":222222222222:alarm:" in arn and arn.rsplit(":", 1)[1] in names
    quiet = dashboard_body(alarm_templates["BedrockCustomer-quiet"])
    assert [w for w in quiet["widgets"] if w["type"] == "alarm"] == []


def test_the_30_day_totals_name_the_registrys_budgets(
    alarm_templates: dict[str, Template],
) -> None:
    titles = widgets_by_title(alarm_templates["BedrockCustomer-tuned"])
    assert "Last 30 days (monthly budget: 3,000,000 tokens and $120.00)" in titles


# --- alarms ------------------------------------------------------------------------------


def _metric_stat(props: dict[str, Any], metric_id: str) -> dict[str, Any]:
    stat: dict[str, Any] = next(q for q in props["Metrics"] if q["Id"] == metric_id)["MetricStat"]
    return stat


def test_error_rate_alarm_divides_the_rollups_errors_by_invocations_at_the_registry_threshold(
    alarm_templates: dict[str, Template],
) -> None:
    t = alarm_templates["BedrockCustomer-tuned"]
    props = alarm(t, "tuned", "error-rate")
    expression = next(q for q in props["Metrics"] if q.get("ReturnData", True))
    assert expression["Expression"] == "100 * errors / invocations"
    for metric_id, metric in (("errors", m.ERRORS), ("invocations", m.INVOCATIONS)):
        assert _metric_stat(props, metric_id) == {
            "Metric": {
                "Namespace": m.NAMESPACE,
                "MetricName": metric.name,
                "Dimensions": [{"Name": m.TENANT_DIMENSION, "Value": "tuned"}],
            },
            "Period": 300,
            "Stat": "Sum",
        }
    assert props["Threshold"] == TUNED["error_rate_percent"]
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert props["TreatMissingData"] == "notBreaching"


def test_throttle_function_error_and_duration_alarms_use_the_registry_thresholds(
    alarm_templates: dict[str, Template],
) -> None:
    t = alarm_templates["BedrockCustomer-tuned"]
    function_id = logical_id(t, "AWS::Lambda::Function")
    (function,) = t.find_resources("AWS::Lambda::Function").values()
    timeout_ms = function["Properties"]["Timeout"] * 1000
    on_function = [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
    expected = {
        "throttles": (
            m.NAMESPACE,
            m.THROTTLES.name,
            [{"Name": m.TENANT_DIMENSION, "Value": "tuned"}],
            "Sum",
            TUNED["throttles_per_5_minutes"],
        ),
        "function-errors": (
            "AWS/Lambda",
            "Errors",
            on_function,
            "Sum",
            TUNED["function_errors_per_5_minutes"],
        ),
        "duration-near-timeout": (
            "AWS/Lambda",
            "Duration",
            on_function,
            "Maximum",
            timeout_ms * TUNED["duration_percent_of_timeout"] / 100,
        ),
    }
    for name, (namespace, metric_name, dimensions, statistic, threshold) in expected.items():
        props = alarm(t, "tuned", name)
        assert (
            props["Namespace"],
            props["MetricName"],
            props["Dimensions"],
            props["Statistic"],
            props["Period"],
            props["Threshold"],
        ) == (namespace, metric_name, dimensions, statistic, 300, threshold), name
        assert props["TreatMissingData"] == "notBreaching", name


def test_budget_alarms_compare_the_trailing_week_with_a_weeks_share_of_the_monthly_budget(
    alarm_templates: dict[str, Template],
) -> None:
    t = alarm_templates["BedrockCustomer-tuned"]
    week = 7 * 24 * 3600
    tokens = alarm(t, "tuned", "token-budget-pace")
    returned = [q for q in tokens["Metrics"] if q.get("ReturnData", True)]
    assert [q["Expression"] for q in returned] == ["m0 + m1 + m2 + m3"]
    summed = {
        q["MetricStat"]["Metric"]["MetricName"]: (
            q["MetricStat"]["Stat"],
            q["MetricStat"]["Period"],
        )
        for q in tokens["Metrics"]
        if "MetricStat" in q
    }
    assert summed == {
        metric.name: ("Sum", week)
        for metric in (
            m.INPUT_TOKENS,
            m.OUTPUT_TOKENS,
            m.CACHE_READ_INPUT_TOKENS,
            m.CACHE_WRITE_INPUT_TOKENS,
        )
    }
    assert tokens["Threshold"] == pytest.approx(TUNED["monthly_token_budget"] * 7 / DAYS_PER_MONTH)
    assert tokens["ComparisonOperator"] == "GreaterThanThreshold"

    cost = alarm(t, "tuned", "cost-budget-pace")
    assert (cost["Namespace"], cost["MetricName"], cost["Statistic"], cost["Period"]) == (
        m.NAMESPACE,
        m.COST_USD.name,
        "Sum",
        week,
    )
    assert cost["Threshold"] == pytest.approx(TUNED["monthly_cost_budget_usd"] * 7 / DAYS_PER_MONTH)
    for props in (tokens, cost):
        assert props["TreatMissingData"] == "notBreaching"
        assert "not the month to date" in props["AlarmDescription"]


def test_every_alarm_fits_cloudwatchs_evaluation_range(
    alarm_templates: dict[str, Template],
) -> None:
    """PutMetricAlarm refuses period x evaluation periods over 7 days (1 day below 1 hour)."""
    for t in alarm_templates.values():
        for resource in t.find_resources("AWS::CloudWatch::Alarm").values():
            props = resource["Properties"]
            periods = [props["Period"]] if "Period" in props else []
            periods += [
                q["MetricStat"]["Period"] for q in props.get("Metrics", []) if "MetricStat" in q
            ]
            for period in periods:
                limit = 86_400 if period < 3600 else 604_800
                assert period * props["EvaluationPeriods"] <= limit, props["AlarmName"]


def test_alarms_notify_the_new_topic_and_the_existing_one(
    alarm_templates: dict[str, Template],
) -> None:
    t = alarm_templates["BedrockCustomer-tuned"]
    topic_id = logical_id(t, "AWS::SNS::Topic")
    alarms = t.find_resources("AWS::CloudWatch::Alarm")
    assert len(alarms) == 6
    for resource in alarms.values():
        assert resource["Properties"]["AlarmActions"] == [{"Ref": topic_id}, EXISTING_TOPIC]


def test_an_existing_topic_alone_creates_no_topic(alarm_templates: dict[str, Template]) -> None:
    t = alarm_templates["BedrockCustomer-paged"]
    t.resource_count_is("AWS::SNS::Topic", 0)
    alarms = t.find_resources("AWS::CloudWatch::Alarm")
    assert len(alarms) == 4  # no budgets set
    for resource in alarms.values():
        assert resource["Properties"]["AlarmActions"] == [EXISTING_TOPIC]


def test_without_email_or_topic_alarms_notify_nobody_and_no_topic_exists(
    templates: dict[str, Template],
) -> None:
    t = templates["BedrockCustomer-acme"]
    t.resource_count_is("AWS::SNS::Topic", 0)
    for resource in t.find_resources("AWS::CloudWatch::Alarm").values():
        assert "AlarmActions" not in resource["Properties"]


def test_disabled_alarms_create_no_alarm_topic_or_key(alarm_templates: dict[str, Template]) -> None:
    t = alarm_templates["BedrockCustomer-quiet"]
    t.resource_count_is("AWS::CloudWatch::Alarm", 0)
    t.resource_count_is("AWS::SNS::Topic", 0)
    t.resource_count_is("AWS::KMS::Key", 1)  # the usage logs' key only


def test_the_email_topic_is_encrypted_ssl_only_and_open_to_this_tenants_alarms_only(
    alarm_templates: dict[str, Template],
) -> None:
    t = alarm_templates["BedrockCustomer-tuned"]
    topic_id = logical_id(t, "AWS::SNS::Topic")
    (topic,) = t.find_resources("AWS::SNS::Topic").values()
    key_ref = topic["Properties"]["KmsMasterKeyId"]
    key = t.find_resources("AWS::KMS::Key")[key_ref["Fn::GetAtt"][0]]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert topic["Properties"]["Subscription"] == [
        {"Endpoint": TUNED["email"], "Protocol": "email"}
    ]
    assert any(
        s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
        and set(s["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
        for s in key["Properties"]["KeyPolicy"]["Statement"]
    )
    (policy,) = t.find_resources("AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )
    (publish,) = [s for s in statements if s.get("Sid") == "AllowThisTenantsAlarmsToPublish"]
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert publish["Action"] == "sns:Publish"
    assert publish["Resource"] == {"Ref": topic_id}
    source = publish["Condition"]["ArnLike"]["aws:SourceArn"]
    text = json.dumps(source)
    assert "alarm:bedrock-usage-tuned-*" in text and "222222222222" in text


# --- saved queries -----------------------------------------------------------------------


def test_saved_queries_are_grouped_per_tenant_and_scoped_to_the_usage_log_group(
    registry: TenantRegistry, templates: dict[str, Template]
) -> None:
    t = templates["BedrockCustomer-globex"]
    usage_group = next(
        lid
        for lid, r in t.find_resources("AWS::Logs::LogGroup").items()
        if r["Properties"]["LogGroupName"] == registry.tenant("globex").usage_log_group
    )
    definitions = {
        r["Properties"]["Name"]: r["Properties"]
        for r in t.find_resources("AWS::Logs::QueryDefinition").values()
    }
    assert set(definitions) == {
        f"bedrock-usage/globex/{name}"
        for name in ("by-application", "by-user", "errors", "slowest-calls")
    }
    for props in definitions.values():
        assert props["LogGroupNames"] == [{"Ref": usage_group}]
        assert re.search(rf'^(\| )?filter event = "{USAGE_EVENT}"$', props["QueryString"], re.M)


def test_saved_query_strings(templates: dict[str, Template]) -> None:
    queries = {
        r["Properties"]["Name"].rsplit("/", 1)[1]: r["Properties"]["QueryString"]
        for r in templates["BedrockCustomer-acme"]
        .find_resources("AWS::Logs::QueryDefinition")
        .values()
    }
    assert queries["by-application"].endswith("by application_id\n| sort tokens desc\n| limit 100")
    assert queries["by-user"].endswith("by user_id\n| sort tokens desc\n| limit 100")
    for name in ("by-application", "by-user", "slowest-calls"):
        assert "| filter not ispresent(provisional)" in queries[name], name
    # A call Lambda killed at its timeout has only its provisional record: errors keep it.
    assert "provisional)" not in queries["errors"]
    assert '| filter status = "error"' in queries["errors"]
    assert queries["errors"].endswith("| sort @timestamp desc\n| limit 100")
    assert queries["slowest-calls"].startswith("fields @timestamp, latency_ms, bedrock_latency_ms")
    assert queries["slowest-calls"].endswith("| sort latency_ms desc\n| limit 50")
    for query in queries.values():
        assert "prompt" not in query and "response" not in query


# Logs Insights words and the queries' own aliases: anything else must be a record field.
QUERY_WORDS = {"fields", "filter", "stats", "sort", "limit", "by", "as", "desc", "and", "not"}
QUERY_FUNCTIONS = {"count", "sum", "ispresent"}
QUERY_ALIASES = {"calls", "tokens_in", "tokens_out", "cache_read", "cache_write", "tokens", "usd"}


def test_queries_name_only_fields_the_usage_record_has(templates: dict[str, Template]) -> None:
    record = new_record(
        status="success",
        invocation_id="i",
        tenant_id="t",
        application_id="a",
        user_id="u",
        model_id="m",
        latency_ms=1,
        timestamp=datetime.datetime.now(datetime.UTC),
    )
    known = set(UsageRecord.model_fields) | set(record) | QUERY_ALIASES
    t = templates["BedrockCustomer-acme"]
    texts = [
        r["Properties"]["QueryString"]
        for r in t.find_resources("AWS::Logs::QueryDefinition").values()
    ]
    texts += [w["properties"]["query"] for w in dashboard_body(t)["widgets"] if w["type"] == "log"]
    for text in texts:
        # Drop string literals (the event name, the SOURCE log group) and @fields.
        text = re.sub(r"'[^']*'|\"[^\"]*\"|@\w+|SOURCE", "", text)
        words = set(re.findall(r"[a-z_]+", text)) - QUERY_WORDS - QUERY_FUNCTIONS
        assert words <= known, words - known


# --- the StackSet template ---------------------------------------------------------------


def test_the_stack_set_template_builds_the_views_from_its_tenant_parameter(
    registry: TenantRegistry,
) -> None:
    app = build_app(registry, context=NO_BUNDLING, customer_stack_set=True)
    t = Template.from_json(app.synth().get_stack_by_name(STACK_SET_TEMPLATE_NAME).template)
    t.has_resource_properties(
        "AWS::CloudWatch::Dashboard",
        {"DashboardName": {"Fn::Join": ["", ["bedrock-usage-", {"Ref": "TenantId"}]]}},
    )
    t.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": {"Fn::Join": ["", ["bedrock-usage-", {"Ref": "TenantId"}, "-throttles"]]},
            "Dimensions": [{"Name": m.TENANT_DIMENSION, "Value": {"Ref": "TenantId"}}],
        },
    )
    t.has_resource_properties(
        "AWS::Logs::QueryDefinition",
        {"Name": {"Fn::Join": ["", ["bedrock-usage/", {"Ref": "TenantId"}, "/errors"]]}},
    )
    assert "TenantId" in json.dumps(dashboard_body_refs(t))


def dashboard_body_refs(template: Template) -> list[Any]:
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    return [
        p for p in dashboard["Properties"]["DashboardBody"]["Fn::Join"][1] if not isinstance(p, str)
    ]


def _references(node: Any) -> set[str]:
    """Logical ids a template fragment points at (Ref, Fn::GetAtt)."""
    if isinstance(node, dict):
        found = set()
        if isinstance(node.get("Ref"), str):
            found.add(node["Ref"])
        if isinstance(node.get("Fn::GetAtt"), list):
            found.add(node["Fn::GetAtt"][0])
        for value in node.values():
            found |= _references(value)
        return found
    if isinstance(node, list):
        return set().union(*(_references(v) for v in node)) if node else set()
    return set()


def test_nothing_points_at_a_resource_the_embedded_cloud_skips(
    templates: dict[str, Template], alarm_templates: dict[str, Template]
) -> None:
    """moto skips alarms and query definitions; a Ref or GetAtt to one fails the deploy."""
    for name, template in {**templates, **alarm_templates}.items():
        resources = template.to_json()["Resources"]
        skipped = {lid for lid, r in resources.items() if r["Type"] in SKIPPED_BY_MOTO}
        for lid, resource in resources.items():
            depends = resource.get("DependsOn", [])
            targets = _references(resource) | set(
                [depends] if isinstance(depends, str) else depends
            )
            assert not targets & skipped, f"{name}: {lid} refers to {targets & skipped}"
