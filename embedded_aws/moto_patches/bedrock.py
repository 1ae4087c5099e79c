"""``AWS::Bedrock::ApplicationInferenceProfile``, which moto's CloudFormation has no model for.

moto (pinned 5.2.5) has no Bedrock inference profiles at all, so a stack that
declares one would skip it and every ``Ref``/``GetAtt`` of it would fail. This
model creates, tags, replaces and deletes the profile in the embedded cloud's
Bedrock emulator, as CloudFormation does with the resource's schema: ``Ref``
and ``GetAtt InferenceProfileIdentifier`` give the ARN, ``GetAtt
InferenceProfileArn``/``InferenceProfileId`` the ARN and generated id, and a
change to a create-only property replaces the profile (the new one first).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

from embedded_aws.bedrock import ApplicationInferenceProfile, BedrockEmulator

APPLICATION_INFERENCE_PROFILE_TYPE = "AWS::Bedrock::ApplicationInferenceProfile"
# Changing any of these replaces the profile (create-only in the resource schema).
_PROFILE_CREATE_ONLY = ("InferenceProfileName", "Description", "ModelSource")


def application_profile_model(bedrock: BedrockEmulator) -> type:
    """The model of ``AWS::Bedrock::ApplicationInferenceProfile`` over ``bedrock``.

    ``bedrock`` is the emulator that then accepts the profile's ARN as a model id.
    Not a ``CloudFormationModel`` subclass on purpose: moto registers those for
    every process, this exists only while an embedded cloud runs
    (``embedded_aws.moto_patches.cloudformation.install`` adds it).
    """
    return type(
        "ApplicationInferenceProfileResource",
        (ApplicationInferenceProfileResource,),
        {"bedrock": bedrock},
    )


class EmulatedCfnResource:
    """A CloudFormation resource moto lacks, kept by the Bedrock emulator.

    The part of moto's resource protocol every such resource answers alike:
    ``Fn::GetAtt`` reads ``cfn_attributes()``, and the resource exists once made.
    """

    bedrock: ClassVar[BedrockEmulator]
    attributes: ClassVar[tuple[str, ...]] = ()

    def cfn_attributes(self) -> dict[str, Any]:
        """Each attribute's value (``attributes`` names them)."""
        raise NotImplementedError

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.attributes

    def get_cfn_attribute(self, attr: str) -> Any:
        values = self.cfn_attributes()
        if attr not in values:
            raise UnformattedGetAttTemplateException()
        return values[attr]

    def is_created(self) -> bool:
        return True


class ApplicationInferenceProfileResource(EmulatedCfnResource):
    """A profile created by a stack; bound to an emulator by ``application_profile_model``."""

    bedrock: ClassVar[BedrockEmulator]
    attributes = (
        "InferenceProfileArn",
        "InferenceProfileId",
        "InferenceProfileIdentifier",
        "Models",
        "Status",
        "Type",
    )

    def __init__(self, profile: ApplicationInferenceProfile, properties: Any) -> None:
        self.profile = profile
        self.properties = properties

    @property
    def physical_resource_id(self) -> str:
        return self.profile.arn

    def cfn_attributes(self) -> dict[str, Any]:
        profile = self.profile
        return {
            "InferenceProfileArn": profile.arn,
            "InferenceProfileId": profile.profile_id,
            "InferenceProfileIdentifier": profile.arn,
            "Models": [{"ModelArn": profile.copy_from}],
            "Status": "ACTIVE",
            "Type": "APPLICATION",
        }

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> ApplicationInferenceProfileResource:
        props = cloudformation_json.get("Properties") or {}
        name = props.get("InferenceProfileName")
        copy_from = (props.get("ModelSource") or {}).get("CopyFrom")
        if not name or not copy_from:
            raise ValueError("InferenceProfileName and ModelSource.CopyFrom are required")
        profile = cls.bedrock.create_application_profile(
            account_id=account_id,
            region=region_name,
            name=str(name),
            copy_from=str(copy_from),
            tags=_cfn_tags(props),
            description=props.get("Description"),
        )
        return cls(profile, props)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: ApplicationInferenceProfileResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> ApplicationInferenceProfileResource:
        props = cloudformation_json.get("Properties") or {}
        old = original_resource.properties
        if any(props.get(k) != old.get(k) for k in _PROFILE_CREATE_ONLY):
            # Replacement, as CloudFormation does it: the new one first.
            new = cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
            cls.bedrock.delete_application_profile(original_resource.profile.arn)
            return new
        profile = cls.bedrock.tag_application_profile(
            original_resource.profile.arn, _cfn_tags(props)
        )
        return cls(profile, props)

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        cls.bedrock.delete_application_profile(resource_name)

    def delete(self, account_id: str, region_name: str) -> None:
        self.bedrock.delete_application_profile(self.profile.arn)


def _cfn_tags(properties: Mapping[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in properties.get("Tags") or []}
