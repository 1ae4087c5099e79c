"""The operations account: one Bedrock-invoker role per tenant, and what guards the account."""
