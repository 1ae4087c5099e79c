"""The contracts every part of the product agrees on, defined once.

Pure Python (pydantic and the standard library; no boto3, CDK or moto): the
stacks, the CLI, the embedded cloud and the Lambda bundle (the bundler copies
this package into the invoker's asset) all import it, so a rule that two parts
must share has exactly one definition.

- ``registry``: the tenant registry file, its model, the placement of tenants on
  operations accounts and shards, and loading (a package);
- ``tenant_settings``: every per-tenant setting, declared once, that the registry,
  the CLI's options and the function's environment derive from;
- ``function_environment``: the invoker function's environment, written by the
  customer stack and read by the function;
- ``fields``: the value rules (account ids, regions, ExternalIds ...) every part checks;
- ``naming``: every name derived from a tenant id, and the tenant-id rule;
- ``model_access``: model id or inference profile -> the ARNs IAM needs, and the
  guardrail and service-tier conditions on them;
- ``model_output_limits``: each model's own output-token limit, and the
  ``maxTokens`` a call names when its event names none;
- ``usage_record``: the usage-record schema (event, fields, streams, content modes,
  retention values, usage sinks);
- ``usage_metrics``: the CloudWatch metrics (EMF names, units, dimension sets) each
  record carries;
- ``pricing``: the versioned price table (``prices.json``), registry overrides, and
  the one way a call is priced;
- ``invocation_logging``: when Bedrock's invocation logging copies content;
- ``blocks``: what a block and a downgrade of a tenant are (deny, record, the
  enforcer's rules), shared by ``tenantctl`` and the limit enforcer;
- ``limits``: per-tenant spend and token limits, the meter's figures and the
  enforcer's decisions;
- ``errors``: field paths for validation messages.
"""
