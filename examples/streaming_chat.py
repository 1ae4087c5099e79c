"""A streaming chat loop: each answer printed token by token as it arrives.

A chat keeps its history, so each turn sends the whole conversation so far. The
user's lines come from a fixed list here (read them from ``input()`` in a real
terminal). Every turn is one model call and leaves one usage record, with its
time to first token, in the tenant's account.

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
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

USER_LINES = (
    "Hello! Who keeps my usage records?",
    "And who holds the model quota?",
    "Thanks, that is all.",
)


def main() -> None:
    bedrock = TenantBedrock.from_parameter(
        os.environ["TENANT_ID"], workload_role_arn=os.environ.get("WORKLOAD_ROLE_ARN")
    )
    try:
        model = bedrock.chat_model(application_id="chat-loop", user_id="alice")
        history: list[BaseMessage] = []
        for line in USER_LINES:
            print(f"you: {line}")
            history.append(HumanMessage(line))
            print("assistant: ", end="", flush=True)
            pieces = []
            for chunk in model.stream(history):
                print(chunk.text, end="", flush=True)
                pieces.append(chunk.text)
            print()
            history.append(AIMessage("".join(pieces)))
    finally:
        # Usage records are written from a background thread: wait for them before exiting.
        bedrock.flush()


if __name__ == "__main__":
    main()
