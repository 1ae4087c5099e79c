"""One tenant's Bedrock application inference profiles, tagged for cost allocation."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import CfnTag, Stack
from aws_cdk import aws_bedrock as bedrock
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from contracts import naming
from contracts.model_access import application_profile_source_arn
from contracts.registry import Operations, Tenant


def cost_allocation_tags(tenant: Tenant) -> dict[str, str]:
    """The tags that let Cost Explorer split Bedrock spend by tenant (and cost centre)."""
    tags = {naming.TENANT_TAG_KEY: tenant.id}
    if tenant.cost_centre is not None:
        tags[naming.COST_CENTRE_TAG_KEY] = tenant.cost_centre
    return tags


class TenantInferenceProfiles(Construct):
    """An ``AWS::Bedrock::ApplicationInferenceProfile`` per model of one tenant.

    Each copies what the model id would call (the foundation model in the
    operations region, or the system cross-region profile), so routing is the
    same; its own ARN and tags make the tenant's calls show as the tenant's in
    Cost Explorer even where the role's principal tags do not reach. Name and
    source are create-only: changing a tenant's models replaces only the
    profiles of the models that changed.

    Their ARNs hold an id Bedrock generates, which no template in the tenant's
    account can know; an SSM parameter here (``naming.inference_profiles_parameter_name``)
    holds the map model id -> ARN, and the tenant's function reads it with its
    invoker role. So every way of deploying the customer stack, a plain
    ``cdk deploy`` included, gives a working function.
    """

    def __init__(
        self, scope: Construct, id: str, *, tenant: Tenant, operations: Operations
    ) -> None:
        super().__init__(scope, id)
        partition = naming.partition_for_region(operations.region)
        tags = [CfnTag(key=k, value=v) for k, v in cost_allocation_tags(tenant).items()]
        self.profiles: dict[str, bedrock.CfnApplicationInferenceProfile] = {}
        for model in tenant.models:
            # The construct id from the model id: another model's profile keeps its
            # logical id when one is added or removed.
            self.profiles[model] = bedrock.CfnApplicationInferenceProfile(
                self,
                f"Profile-{model}",
                inference_profile_name=naming.application_inference_profile_name(tenant.id, model),
                description=f"Bedrock calls of tenant {tenant.id} to {model}",
                model_source=bedrock.CfnApplicationInferenceProfile.InferenceProfileModelSourceProperty(
                    copy_from=application_profile_source_arn(
                        model,
                        partition=partition,
                        region=operations.region,
                        account=operations.account_id,
                    )
                ),
                tags=tags,
            )
        self.directory = ssm.StringParameter(
            self,
            "Directory",
            parameter_name=naming.inference_profiles_parameter_name(tenant.id),
            description=f"Application inference profile ARNs of tenant {tenant.id}, by model",
            # Sorted: the same registry always synthesizes the same template.
            string_value=Stack.of(self).to_json_string(dict(sorted(self.arns.items()))),
        )

    @property
    def arns(self) -> Mapping[str, str]:
        """Model id -> the profile's ARN (``GetAtt InferenceProfileArn``)."""
        return {model: p.attr_inference_profile_arn for model, p in self.profiles.items()}
