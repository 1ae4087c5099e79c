"""What both accounts' stacks use: KMS keys, log groups, bundling, limits, nag acknowledgments."""
