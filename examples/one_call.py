"""One model call as a tenant: print the answer; one usage record lands in the tenant's account.

Environment:
    TENANT_ID          the tenant's id in the registry, e.g. ``acme``
    WORKLOAD_ROLE_ARN  the tenant's workload role (the customer stack's
                       ``WorkloadRoleArn`` output), assumed from the process's own
                       credentials; leave it unset to call with those as they are
    AWS_*              the workload's own credentials, region and endpoint, found as
                       any boto3 program finds them (environment, profile, task role)

Run: ``TENANT_ID=acme WORKLOAD_ROLE_ARN=arn:aws:iam::<account>:role/bedrock-workload-acme
python examples/one_call.py``
"""

import os

from bedrock_tenant_client import TenantBedrock


def main() -> None:
    bedrock = TenantBedrock.from_parameter(
        os.environ["TENANT_ID"], workload_role_arn=os.environ.get("WORKLOAD_ROLE_ARN")
    )
    try:
        model = bedrock.chat_model(application_id="one-call", user_id="alice")
        answer = model.invoke("What stays in my own account when I call Bedrock?")
        print(answer.text)
        if answer.usage_metadata is not None:
            usage = answer.usage_metadata
            print(f"tokens: {usage['input_tokens']} in, {usage['output_tokens']} out")
    finally:
        # The usage record is written from a background thread: wait for it before exiting.
        bedrock.flush()


if __name__ == "__main__":
    main()
