"""A stream abandoned after its first words still leaves exactly one usage record.

Leaving the loop closes the stream's generator (CPython does so as soon as the
loop lets go of it), and its record says ``"status": "cancelled"``, with the
tokens known by then. Closing the generator yourself, or cancelling a task that
reads ``astream``, does the same.

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


def main() -> None:
    bedrock = TenantBedrock.from_parameter(
        os.environ["TENANT_ID"], workload_role_arn=os.environ.get("WORKLOAD_ROLE_ARN")
    )
    try:
        model = bedrock.chat_model(application_id="abandoned-stream", user_id="alice")
        for chunk in model.stream("Tell me a long story about a tenant and its usage records."):
            if chunk.text:  # the stream opens with an empty chunk (the message's start)
                print(f"first words: {chunk.text}")
                break
        print("walked away from the rest of the answer")
    finally:
        # The usage record is written from a background thread: wait for it before exiting.
        bedrock.flush()


if __name__ == "__main__":
    main()
