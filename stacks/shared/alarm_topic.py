"""An SNS topic CloudWatch alarms publish to, under its own key, open to named alarms only.

The tenant's usage alarms and the operations account's limit enforcer both
notify through one: CloudWatch cannot use the AWS-managed SNS key (its policy
cannot be changed), hence a customer-managed one; ``enforce_ssl`` replaces the
default topic policy that let CloudWatch publish, so a statement admits only
the alarms whose names match ``alarm_name_pattern``.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.shared.kms import retained_rotating_key


def alarm_topic(
    scope: Construct,
    *,
    key_description: str,
    display_name: str,
    alarm_name_pattern: str,
    publish_sid: str,
    email: str | None = None,
) -> tuple[sns.Topic, kms.Key]:
    """The topic (``Topic``) and its key (``TopicKey``) in ``scope``; ``email`` subscribed."""
    stack = Stack.of(scope)
    key = retained_rotating_key(scope, "TopicKey", description=key_description)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsToUseTheKey",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            # In a key policy, "*" means this key. Which alarms may publish at
            # all is decided by the topic policy below.
            resources=["*"],
        )
    )
    topic = sns.Topic(scope, "Topic", display_name=display_name, master_key=key, enforce_ssl=True)
    if email:
        # Inline rather than an AWS::SNS::Subscription: the embedded cloud
        # (moto's CloudFormation) deploys the topic's own Subscription property
        # but skips the separate resource type.
        cfn_topic = topic.node.default_child
        assert isinstance(cfn_topic, sns.CfnTopic)
        cfn_topic.subscription = [
            sns.CfnTopic.SubscriptionProperty(endpoint=email, protocol="email")
        ]
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid=publish_sid,
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={
                "ArnLike": {
                    "aws:SourceArn": stack.format_arn(
                        service="cloudwatch",
                        resource="alarm",
                        resource_name=alarm_name_pattern,
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                }
            },
        )
    )
    return topic, key
