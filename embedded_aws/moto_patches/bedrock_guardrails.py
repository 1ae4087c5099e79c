"""``AWS::Bedrock::Guardrail`` and ``AWS::Bedrock::GuardrailVersion``, which moto lacks.

moto (pinned 5.2.5) has no Bedrock guardrails, so a stack declaring one would
skip it and every ``Ref``/``GetAtt`` of it would fail. These models create the
guardrail in the embedded Bedrock emulator (``BedrockEmulator.create_guardrail``)
from what the emulator can assess: the words of ``WordPolicyConfig`` and whether
``ContentPolicyConfig`` has a filter above ``NONE``. As the resource schemas
say: the guardrail's ``Ref`` and ``GetAtt GuardrailArn`` are its ARN, ``GetAtt
GuardrailId`` its generated id and ``Version`` ``DRAFT``; an update changes the
definition in place. A ``GuardrailVersion`` publishes the next version number
(``GetAtt Version``; ``Ref`` is ``<id>|<version>``); its properties are
create-only, so a change replaces it with a new version. An
``EnforcedGuardrailConfiguration`` sets the account's floor in the emulator
(``BedrockEmulator.set_enforced_guardrail``): every model call of the account
in that region is assessed by it too; ``GetAtt ConfigId`` is its id.
"""

from __future__ import annotations

from typing import Any

from embedded_aws.bedrock import BedrockEmulator
from embedded_aws.bedrock_guardrails import EmulatedGuardrail
from embedded_aws.moto_patches.bedrock import EmulatedCfnResource

GUARDRAIL_TYPE = "AWS::Bedrock::Guardrail"
GUARDRAIL_VERSION_TYPE = "AWS::Bedrock::GuardrailVersion"
ENFORCED_GUARDRAIL_TYPE = "AWS::Bedrock::EnforcedGuardrailConfiguration"


def guardrail_models(bedrock: BedrockEmulator) -> dict[str, type]:
    """The two resource models over ``bedrock``, by CloudFormation type.

    Not ``CloudFormationModel`` subclasses on purpose: moto registers those for
    every process; these exist only while an embedded cloud runs.
    """
    return {
        GUARDRAIL_TYPE: type("GuardrailResource", (GuardrailResource,), {"bedrock": bedrock}),
        GUARDRAIL_VERSION_TYPE: type(
            "GuardrailVersionResource", (GuardrailVersionResource,), {"bedrock": bedrock}
        ),
        ENFORCED_GUARDRAIL_TYPE: type(
            "EnforcedGuardrailResource", (EnforcedGuardrailResource,), {"bedrock": bedrock}
        ),
    }


def _definition(props: dict[str, Any]) -> dict[str, Any]:
    words = [str(w["Text"]) for w in (props.get("WordPolicyConfig") or {}).get("WordsConfig") or []]
    filters = (props.get("ContentPolicyConfig") or {}).get("FiltersConfig") or []
    content = any(
        f.get("InputStrength", "NONE") != "NONE" or f.get("OutputStrength", "NONE") != "NONE"
        for f in filters
    )
    message = props.get("BlockedInputMessaging")
    if not props.get("Name") or not message or not props.get("BlockedOutputsMessaging"):
        raise ValueError("Name, BlockedInputMessaging and BlockedOutputsMessaging are required")
    return {
        "blocked_words": words,
        "content_filters": content,
        "blocked_input_messaging": str(message),
    }


class GuardrailResource(EmulatedCfnResource):
    """A guardrail made by a stack; bound to an emulator by ``guardrail_models``."""

    attributes = ("GuardrailArn", "GuardrailId", "Version", "Status", "CreatedAt", "UpdatedAt")

    def __init__(self, guardrail: EmulatedGuardrail, properties: Any) -> None:
        self.guardrail = guardrail
        self.properties = properties

    @property
    def physical_resource_id(self) -> str:
        return self.guardrail.arn

    def cfn_attributes(self) -> dict[str, Any]:
        return {
            "GuardrailArn": self.guardrail.arn,
            "GuardrailId": self.guardrail.guardrail_id,
            "Version": "DRAFT",
            "Status": "READY",
            "CreatedAt": "1970-01-01T00:00:00Z",
            "UpdatedAt": "1970-01-01T00:00:00Z",
        }

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> GuardrailResource:
        props = cloudformation_json.get("Properties") or {}
        guardrail = cls.bedrock.create_guardrail(
            account_id=account_id,
            region=region_name,
            name=str(props.get("Name")),
            version="DRAFT",
            **_definition(props),
        )
        return cls(guardrail, props)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: GuardrailResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> GuardrailResource:
        props = cloudformation_json.get("Properties") or {}
        guardrail = cls.bedrock.update_guardrail(
            original_resource.guardrail.arn, **_definition(props)
        )
        return cls(guardrail, props)

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        cls.bedrock.delete_guardrail(resource_name)

    def delete(self, account_id: str, region_name: str) -> None:
        self.bedrock.delete_guardrail(self.guardrail.arn)


class GuardrailVersionResource(EmulatedCfnResource):
    """A published version of a stack's guardrail."""

    attributes = ("GuardrailArn", "GuardrailId", "Version")

    def __init__(self, guardrail: EmulatedGuardrail, version: str) -> None:
        self.guardrail = guardrail
        self.version = version

    @property
    def physical_resource_id(self) -> str:
        return f"{self.guardrail.guardrail_id}|{self.version}"

    def cfn_attributes(self) -> dict[str, Any]:
        return {
            "GuardrailArn": self.guardrail.arn,
            "GuardrailId": self.guardrail.guardrail_id,
            "Version": self.version,
        }

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> GuardrailVersionResource:
        props = cloudformation_json.get("Properties") or {}
        guardrail = cls.bedrock.publish_guardrail_version(str(props.get("GuardrailIdentifier")))
        return cls(guardrail, guardrail.version)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: GuardrailVersionResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> GuardrailVersionResource:
        # Every property is create-only: an update is a new version.
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        """A version goes with its guardrail; deleting one alone keeps the guardrail."""

    def delete(self, account_id: str, region_name: str) -> None:
        """A version goes with its guardrail; deleting one alone keeps the guardrail."""


class EnforcedGuardrailResource(EmulatedCfnResource):
    """An account's guardrail floor in one region, set by a stack."""

    attributes = ("ConfigId",)

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region

    @property
    def physical_resource_id(self) -> str:
        return f"{self.account_id}:{self.region}"

    def cfn_attributes(self) -> dict[str, Any]:
        return {"ConfigId": self.physical_resource_id}

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> EnforcedGuardrailResource:
        props = cloudformation_json.get("Properties") or {}
        identifier = props.get("GuardrailIdentifier")
        if not identifier or not props.get("GuardrailVersion"):
            raise ValueError("GuardrailIdentifier and GuardrailVersion are required")
        cls.bedrock.set_enforced_guardrail(account_id, region_name, str(identifier))
        return cls(account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: EnforcedGuardrailResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> EnforcedGuardrailResource:
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        cls.bedrock.clear_enforced_guardrail(account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        self.bedrock.clear_enforced_guardrail(self.account_id, self.region)
