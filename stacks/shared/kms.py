"""The one way this product makes a KMS key."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from constructs import Construct


def retained_rotating_key(scope: Construct, id: str, *, description: str) -> kms.Key:
    """Every key this product makes: yearly rotation, kept when its stack is deleted
    (data it encrypted may outlive the stack), the longest deletion window."""
    return kms.Key(
        scope,
        id,
        description=description,
        enable_key_rotation=True,
        removal_policy=RemovalPolicy.RETAIN,
        pending_window=Duration.days(30),
    )
