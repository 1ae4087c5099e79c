"""A LangChain chain, prompt | model | parser, with the tenant's model in the middle.

The tenant's model is a ``ChatBedrockConverse``, so it composes like any LangChain
chat model; the chain's one model call leaves one usage record in the tenant's
account.

Environment:
    TENANT_ID          the tenant's id in the registry, e.g. ``acme``
    WORKLOAD_ROLE_ARN  the tenant's workload role (the customer stack's
                       ``WorkloadRoleArn`` output), assumed from the process's own
                       credentials; leave it unset to call with those as they are
    AWS_*              the workload's own credentials, region and endpoint, found as
                       any boto3 program finds them (environment, profile, task role)
"""

import os

from bedrock_tenant_client import TenantBedrock
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate


def main() -> None:
    bedrock = TenantBedrock.from_parameter(
        os.environ["TENANT_ID"], workload_role_arn=os.environ.get("WORKLOAD_ROLE_ARN")
    )
    try:
        model = bedrock.chat_model(application_id="chain", user_id="alice")
        prompt = ChatPromptTemplate.from_messages(
            [
                ("system", "You explain {topic} in one short paragraph."),
                ("human", "{question}"),
            ]
        )
        chain = prompt | model | StrOutputParser()
        print(chain.invoke({"topic": "usage records", "question": "Where do they go?"}))
    finally:
        # The usage record is written from a background thread: wait for it before exiting.
        bedrock.flush()


if __name__ == "__main__":
    main()
