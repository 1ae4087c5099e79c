"""Call the central Amazon Bedrock as one tenant, with one usage record per call."""
