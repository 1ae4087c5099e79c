"""Alert when someone changes Bedrock's model-invocation logging in the operations account."""

from __future__ import annotations

from typing import cast

import jsii
from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from contracts import naming
from stacks.shared.kms import retained_rotating_key

ALERT_RULE_NAME = "bedrock-ops-invocation-logging-changed"
WATCHED_EVENT_NAMES = ("PutModelInvocationLoggingConfiguration",)


def rule_arn(stack: Stack, rule_name: str) -> str:
    """A rule's ARN spelled out, so the key policy can name it without a dependency cycle."""
    partition = naming.partition_for_region(stack.region)
    return f"arn:{partition}:events:{stack.region}:{stack.account}:rule/{rule_name}"


class InvocationLoggingAlert(Construct):
    """An EventBridge rule on the CloudTrail event that turns logging on, and its SNS topic.

    The deploy-time guard only runs when the stack changes; this catches the
    setting being switched on afterwards. CloudTrail delivers "AWS API Call via
    CloudTrail" events to EventBridge only while a trail logs management events
    in this account and region (an organization trail counts).

    The topic is encrypted with its own key: EventBridge cannot publish to a topic
    under the AWS-managed SNS key, whose policy cannot be changed.
    """

    def __init__(self, scope: Construct, id: str, *, alert_email: str | None = None) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        this_rule_arn = rule_arn(stack, ALERT_RULE_NAME)

        self.key = retained_rotating_key(
            self, "TopicKey", description="Encrypts alerts about Bedrock invocation-logging changes"
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowEventBridgeForTheAlertRuleOnly",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={"ArnEquals": {"aws:SourceArn": this_rule_arn}},
            )
        )

        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="Bedrock invocation logging changed (operations account)",
            master_key=self.key,
            enforce_ssl=True,
        )
        if alert_email:
            # Inline rather than an AWS::SNS::Subscription: the embedded cloud
            # (moto's CloudFormation) deploys the topic's own Subscription
            # property but skips the separate resource type.
            cfn_topic = self.topic.node.default_child
            assert isinstance(cfn_topic, sns.CfnTopic)
            cfn_topic.subscription = [
                sns.CfnTopic.SubscriptionProperty(endpoint=alert_email, protocol="email")
            ]

        self.rule = events.Rule(
            self,
            "Rule",
            rule_name=ALERT_RULE_NAME,
            description="Bedrock model-invocation logging was changed in the operations account",
            event_pattern=events.EventPattern(
                source=["aws.bedrock"],
                detail_type=["AWS API Call via CloudTrail"],
                detail={
                    "eventSource": ["bedrock.amazonaws.com"],
                    "eventName": list(WATCHED_EVENT_NAMES),
                },
            ),
        )
        # Not `targets.SnsTopic`: it grants events.amazonaws.com the topic and the
        # key without conditions, i.e. to any rule in any account. These two
        # statements admit this one rule only.
        self.rule.add_target(cast(events.IRuleTarget, _TopicTarget(self.topic)))
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowTheAlertRuleToPublish",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"ArnEquals": {"aws:SourceArn": this_rule_arn}},
            )
        )
        rule_resource = self.rule.node.default_child
        assert isinstance(rule_resource, CfnResource)
        Validations.of(rule_resource).acknowledge(
            Acknowledgment(
                id="Serverless-EventBusDLQ",
                reason=(
                    "The only target is an SNS topic in this account; EventBridge retries it "
                    "for 24 hours. The change itself stays in CloudTrail and `tenantctl doctor` "
                    "re-reads the setting, so a queue nobody reads would add nothing."
                ),
            )
        )


@jsii.implements(events.IRuleTarget)
class _TopicTarget:
    """Sends matched events to a topic; the permissions are granted by the caller."""

    def __init__(self, topic: sns.ITopic) -> None:
        self._topic = topic

    def bind(self, rule: events.IRule, id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(arn=self._topic.topic_arn)
