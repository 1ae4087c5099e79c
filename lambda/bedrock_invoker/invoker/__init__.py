"""The tenant's Bedrock invoker: calls Bedrock in the operations account, logs usage here.

``handler.py`` is the Lambda entry point; the modules in this package hold the
logic so each part can be tested without Lambda:

- ``invocation``: ``BedrockInvoker``, one invocation end to end (parse, call,
  record, answer) and the Lambda result shapes;
- ``event``: the event, validated at the edge;
- ``settings``: the function's environment, read once per container;
- ``init_phase``: the handler's init with the garbage collector paused, then frozen;
- ``ops_credentials``: the operations-account session (AssumeRole, refreshed);
- ``chat``: ``BedrockChat``, Bedrock Converse through ``ChatBedrockConverse``;
- ``outcome``: the call's outcome, read once (``BedrockAnswer`` or ``Failure``),
  and its one clock (``CallTimer``);
- ``redaction``: masks content for ``LOG_CONTENT=redacted``;
- ``usage``: the usage record, its metrics and its two sinks.
"""
