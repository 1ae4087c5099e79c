"""A tenant's customer stack: assuming role, usage log group and invoker Lambda."""

from __future__ import annotations

from aws_cdk.assertions import Match, Template


def test_assuming_role_may_assume_exactly_its_ops_role(templates: dict[str, Template]) -> None:
    t = templates["BedrockCustomer-acme"]
    t.has_resource_properties(
        "AWS::IAM::Role",
        {
            "RoleName": "bedrock-caller-acme",
            "AssumeRolePolicyDocument": Match.object_like(
                {
                    "Statement": [
                        Match.object_like({"Principal": {"Service": "lambda.amazonaws.com"}})
                    ]
                }
            ),
        },
    )
    statements = [
        s
        for p in t.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "sts:AssumeRole" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert statements == [
        {
            "Sid": "AssumeOwnInvokerRoleOnly",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": "arn:aws:iam::111111111111:role/bedrock-invoker-acme",
        }
    ]


def test_usage_log_group_is_named_retained_encrypted_with_registry_retention(
    templates: dict[str, Template],
) -> None:
    t = templates["BedrockCustomer-globex"]
    key_id = next(iter(t.find_resources("AWS::KMS::Key")))
    t.has_resource(
        "AWS::Logs::LogGroup",
        {
            "Properties": {
                "LogGroupName": "/aws/bedrock/langchain/logs",
                "RetentionInDays": 365,
                "KmsKeyId": {"Fn::GetAtt": [key_id, "Arn"]},
            },
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_usage_key_rotates_and_serves_logs_only_for_this_tenants_log_groups(
    templates: dict[str, Template],
) -> None:
    t = templates["BedrockCustomer-acme"]
    t.has_resource(
        "AWS::KMS::Key",
        {"Properties": Match.object_like({"EnableKeyRotation": True}), "DeletionPolicy": "Retain"},
    )
    key = next(iter(t.find_resources("AWS::KMS::Key").values()))
    logs_statement = next(
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal", {}).get("Service") == "logs.us-east-1.amazonaws.com"
    )
    assert logs_statement["Condition"] == {
        "ArnEquals": {
            "kms:EncryptionContext:aws:logs:arn": [
                "arn:aws:logs:us-east-1:222222222222:log-group:/aws/bedrock/langchain/logs",
                "arn:aws:logs:us-east-1:222222222222:log-group:/aws/lambda/bedrock-invoker-acme",
            ]
        }
    }


def test_invoker_lambda_gets_its_configuration_from_the_registry(
    templates: dict[str, Template],
) -> None:
    templates["BedrockCustomer-acme"].has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": "bedrock-invoker-acme",
            "Architectures": ["arm64"],
            "Runtime": "python3.12",
            "Handler": "handler.lambda_handler",
            "Environment": {
                "Variables": {
                    "TENANT_ID": "acme",
                    "OPS_ROLE_ARN": "arn:aws:iam::111111111111:role/bedrock-invoker-acme",
                    "OPS_EXTERNAL_ID": "acme-5f0c2a9e8b7d4c1e",
                    "BEDROCK_REGION": "us-east-1",
                    "USAGE_LOG_GROUP": "/aws/bedrock/langchain/logs",
                    "ALLOWED_MODELS": "anthropic.claude-3-haiku-20240307-v1:0,"
                    "us.anthropic.claude-3-5-haiku-20241022-v1:0",
                    "DEFAULT_MODEL_ID": "anthropic.claude-3-haiku-20240307-v1:0",
                    "LOG_CONTENT": "metadata",
                    "BEDROCK_MAX_ATTEMPTS": "4",
                    "POWERTOOLS_SERVICE_NAME": "bedrock-invoker",
                }
            },
        },
    )


def test_function_logs_to_its_own_retained_log_group(templates: dict[str, Template]) -> None:
    t = templates["BedrockCustomer-globex"]
    groups = t.find_resources(
        "AWS::Logs::LogGroup",
        {"Properties": {"LogGroupName": "/aws/lambda/bedrock-invoker-globex"}},
    )
    ((logical, group),) = groups.items()
    assert group["Properties"]["RetentionInDays"] == 365
    t.has_resource_properties(
        "AWS::Lambda::Function",
        {"LoggingConfig": Match.object_like({"LogGroup": {"Ref": logical}, "LogFormat": "JSON"})},
    )


def test_function_may_write_only_to_the_usage_log_group_and_its_own(
    templates: dict[str, Template],
) -> None:
    t = templates["BedrockCustomer-acme"]
    logs_resources = sorted(
        r
        for p in t.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if any(
            a.startswith("logs:")
            for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        )
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    )
    base = "arn:aws:logs:us-east-1:222222222222:log-group:"
    assert logs_resources == sorted(
        [
            f"{base}/aws/bedrock/langchain/logs",
            f"{base}/aws/bedrock/langchain/logs:log-stream:*",
            f"{base}/aws/lambda/bedrock-invoker-acme",
            f"{base}/aws/lambda/bedrock-invoker-acme:log-stream:*",
        ]
    )


def test_each_tenant_stack_targets_its_own_account(templates: dict[str, Template]) -> None:
    acme = templates["BedrockCustomer-acme"].to_json()
    globex = templates["BedrockCustomer-globex"].to_json()
    assert "333333333333" not in str(acme)
    assert "222222222222" not in str(globex)


def test_no_function_can_send_prompts_to_a_tracing_service(templates: dict[str, Template]) -> None:
    # LangChain/LangSmith tracing would ship prompts and answers to a third party.
    for name, template in templates.items():
        for fn in template.find_resources("AWS::Lambda::Function").values():
            variables = fn["Properties"].get("Environment", {}).get("Variables", {})
            leaking = [v for v in variables if v.startswith(("LANGCHAIN_", "LANGSMITH_"))]
            assert leaking == [], f"{name}: {leaking}"
