"""The contracts every part of the product agrees on, defined once.

Pure Python (pydantic and the standard library; no boto3, CDK or moto): the
stacks, the CLI, the embedded cloud and the Lambda bundle (the bundler copies
this package into the invoker's asset) all import it, so a rule that two parts
must share has exactly one definition.

- ``registry``: the tenant registry model and its validation;
- ``naming``: every name derived from a tenant id, and the tenant-id rule;
- ``model_access``: model id or inference profile -> the ARNs IAM needs;
- ``usage_record``: the usage-record schema (event, fields, streams, content modes,
  retention values);
- ``invocation_logging``: when Bedrock's invocation logging copies content;
- ``errors``: field paths for validation messages.
"""
