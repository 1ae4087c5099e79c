"""The tenant's Bedrock invoker: calls Bedrock in the operations account, logs usage here.

``handler.py`` is the Lambda entry point; the modules in this package hold the
logic so each part can be tested without Lambda.
"""
