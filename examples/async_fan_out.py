"""Twenty concurrent calls from one event loop, sharing one TenantBedrock.

One ``TenantBedrock`` per process: every call shares its credentials (assumed
once, refreshed in place) and its one usage writer. Each call names its own
user in ``config={"metadata": ...}``, as a web server serving many users would,
and leaves its own usage record (20 calls, 20 records, 20 invocation ids).

Environment:
    TENANT_ID          the tenant's id in the registry, e.g. ``acme``
    WORKLOAD_ROLE_ARN  the tenant's workload role (the customer stack's
                       ``WorkloadRoleArn`` output), assumed from the process's own
                       credentials; leave it unset to call with those as they are
    AWS_*              the workload's own credentials, region and endpoint, found as
                       any boto3 program finds them (environment, profile, task role)
"""

import asyncio
import os

from bedrock_tenant_client import TenantBedrock, TenantChatModel

CALLS = 20


async def ask(model: TenantChatModel, number: int) -> str:
    answer = await model.ainvoke(
        f"Question {number}: what does a usage record hold?",
        config={"metadata": {"user_id": f"user-{number:02d}"}},
    )
    return answer.text


async def fan_out(model: TenantChatModel) -> list[str]:
    # gather keeps the order of its arguments, whatever order the answers arrive in.
    return await asyncio.gather(*(ask(model, number) for number in range(1, CALLS + 1)))


def main() -> None:
    bedrock = TenantBedrock.from_parameter(
        os.environ["TENANT_ID"], workload_role_arn=os.environ.get("WORKLOAD_ROLE_ARN")
    )
    try:
        model = bedrock.chat_model(application_id="fan-out")
        answers = asyncio.run(fan_out(model))
        for number, answer in enumerate(answers, start=1):
            print(f"{number:2d}: {answer}")
    finally:
        # Usage records are written from a background thread: wait for them before exiting.
        bedrock.flush()


if __name__ == "__main__":
    main()
