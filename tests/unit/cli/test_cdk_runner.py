"""The CDK CLI's environment: the caller's AWS configuration passes through.

A deploy to AWS through named profiles (SSO, environment keys, container or
web-identity credentials alike) must authenticate as the caller's own SDK calls
do; only the embedded cloud's explicit keys shut everything else out.
"""

from __future__ import annotations

import pytest

from contracts.registry import load_registry
from tenantctl.cdk_runner import cli_environment
from tenantctl.cli.deploy_commands import AwsProfiles
from tests.conftest import EXAMPLE_REGISTRY

CALLER = {
    "AWS_CONFIG_FILE": "/home/op/.aws/config",
    "AWS_SHARED_CREDENTIALS_FILE": "/home/op/.aws/credentials",
    "AWS_PROFILE": "default-admin",
    "AWS_ACCESS_KEY_ID": "AKIACALLER",
    "AWS_SECRET_ACCESS_KEY": "caller-secret",
    "AWS_SESSION_TOKEN": "caller-token",
    "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token",
    "AWS_ENDPOINT_URL": "http://localhost:4566",
}


@pytest.fixture
def caller(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CALLER.items():
        monkeypatch.setenv(name, value)


def test_a_named_profile_keeps_the_callers_profile_files_and_wins_over_ambient_keys(
    caller: None,
) -> None:
    profiles = AwsProfiles(
        load_registry(EXAMPLE_REGISTRY), ops_profile="ops", tenant_profile="tenant-{name}"
    )

    ops = cli_environment(profiles.env("111111111111", "us-east-1"))
    tenant = cli_environment(profiles.env("222222222222", "eu-west-1"))

    assert ops["AWS_PROFILE"] == "ops" and tenant["AWS_PROFILE"] == "tenant-acme"
    assert tenant["AWS_REGION"] == "eu-west-1"
    for env in (ops, tenant):
        assert env["AWS_CONFIG_FILE"] == "/home/op/.aws/config"
        assert env["AWS_SHARED_CREDENTIALS_FILE"] == "/home/op/.aws/credentials"
        assert "AWS_ACCESS_KEY_ID" not in env and "AWS_SESSION_TOKEN" not in env
        # The endpoint the caller configured (the embedded cloud's, say) still applies.
        assert env["AWS_ENDPOINT_URL"] == "http://localhost:4566"


def test_without_profiles_the_callers_ambient_credentials_are_used_as_they_are(
    caller: None,
) -> None:
    profiles = AwsProfiles(load_registry(EXAMPLE_REGISTRY), ops_profile=None, tenant_profile=None)

    env = cli_environment(profiles.env("222222222222", "us-east-1"))

    for name, value in CALLER.items():
        assert env[name] == value, name


def test_explicit_keys_shut_out_every_other_credential_source(caller: None) -> None:
    env = cli_environment(
        {
            "AWS_ACCESS_KEY_ID": "AKIAEMBEDDED",
            "AWS_SECRET_ACCESS_KEY": "embedded-secret",
            "AWS_ENDPOINT_URL": "http://localhost:5000",
        }
    )

    assert env["AWS_ACCESS_KEY_ID"] == "AKIAEMBEDDED"
    assert env["AWS_ENDPOINT_URL"] == "http://localhost:5000"
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        assert name not in env, name
    assert env["AWS_CONFIG_FILE"] != CALLER["AWS_CONFIG_FILE"]
