"""A guardrail the operations stack creates for a tenant, from its registry definition."""

from __future__ import annotations

import hashlib

from aws_cdk import Stack
from aws_cdk import aws_bedrock as bedrock
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from contracts import naming
from contracts.registry import Tenant
from contracts.tenant_settings import ContentFilterStrength, GuardrailDefinition

# Bedrock's content filter types; a prompt attack is judged on prompts only, so its
# output strength must be NONE (AWS::Bedrock::Guardrail ContentFilterConfig).
CONTENT_FILTER_TYPES = ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT")
PROMPT_ATTACK = "PROMPT_ATTACK"


def _content_policy(
    strength: ContentFilterStrength,
) -> bedrock.CfnGuardrail.ContentPolicyConfigProperty | None:
    if strength is ContentFilterStrength.NONE:
        return None
    filters = [
        bedrock.CfnGuardrail.ContentFilterConfigProperty(
            type=kind, input_strength=strength.value, output_strength=strength.value
        )
        for kind in CONTENT_FILTER_TYPES
    ]
    filters.append(
        bedrock.CfnGuardrail.ContentFilterConfigProperty(
            type=PROMPT_ATTACK, input_strength=strength.value, output_strength="NONE"
        )
    )
    return bedrock.CfnGuardrail.ContentPolicyConfigProperty(filters_config=filters)


def definition_digest(definition: GuardrailDefinition) -> str:
    """A short digest of the definition: part of the version's description, so a
    changed definition publishes a new version (a version is a snapshot)."""
    return hashlib.sha256(definition.model_dump_json().encode()).hexdigest()[:12]


class TenantGuardrail(Construct):
    """An ``AWS::Bedrock::Guardrail`` from the tenant's ``guardrail.create``, a version of
    it, and the SSM parameter that tells the tenant's function which (``{"arn",
    "version"}``, ``naming.guardrail_parameter_name``).

    Bedrock generates the guardrail's id and numbers its versions, so no template
    in the tenant's account can know them; the function reads the parameter with
    its invoker role, as it reads its inference profiles. A changed definition
    updates the guardrail and replaces the version (its description carries the
    definition's digest), so the role's condition and the parameter follow.
    """

    def __init__(
        self, scope: Construct, id: str, *, tenant: Tenant, definition: GuardrailDefinition
    ) -> None:
        super().__init__(scope, id)
        words = [
            bedrock.CfnGuardrail.WordConfigProperty(text=word) for word in definition.blocked_words
        ]
        self.guardrail = bedrock.CfnGuardrail(
            self,
            "Guardrail",
            name=naming.guardrail_name(tenant.id),
            description=f"Every Bedrock call of tenant {tenant.id}",
            blocked_input_messaging=definition.blocked_input_messaging,
            blocked_outputs_messaging=definition.blocked_outputs_messaging,
            content_policy_config=_content_policy(definition.content_filter_strength),
            word_policy_config=(
                bedrock.CfnGuardrail.WordPolicyConfigProperty(words_config=words) if words else None
            ),
        )
        self.version = bedrock.CfnGuardrailVersion(
            self,
            "Version",
            guardrail_identifier=self.guardrail.attr_guardrail_id,
            description=f"Definition {definition_digest(definition)}",
        )
        self.directory = ssm.StringParameter(
            self,
            "Directory",
            parameter_name=naming.guardrail_parameter_name(tenant.id),
            description=f"The guardrail every Bedrock call of tenant {tenant.id} carries",
            string_value=Stack.of(self).to_json_string(
                {"arn": self.guardrail.attr_guardrail_arn, "version": self.version.attr_version}
            ),
        )

    @property
    def arn_and_version(self) -> tuple[str, str]:
        """The guardrail's ARN and the version's number (deploy-time tokens)."""
        return self.guardrail.attr_guardrail_arn, self.version.attr_version
