"""A tenant's own account: the assuming function, its usage log group and observability."""
