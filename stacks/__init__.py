"""CDK stacks and the constructs they compose (one construct per file), grouped by account.

operations/  the operations account: invoker roles, model access, profiles, the guard and alert
customer/    each tenant's account: the function, the usage log group, observability, StackSet
shared/      what both use: KMS and log-group helpers, bundling, limits, nag acknowledgments

``operations`` and ``customer`` never import each other.
"""
