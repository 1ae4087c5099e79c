"""Usage records: one per invocation, in the tenant's own usage log group.

- ``record``: ``UsageRecorder`` builds an invocation's record (success, error,
  provisional timeout) exactly once from the call's outcome
  (``bedrock_tenant_client.outcome``) and prices it with ``contracts.pricing``; the schema is
  ``contracts.usage_record``;
- ``callback``: ``UsageCallback``, the LangChain callback that starts and stops
  the call's clock and hands the prompt to the recorder;
- ``metrics``: ``with_metrics`` adds the record's EMF block (names from
  ``contracts.usage_metrics``);
- ``truncation``: ``fit_record`` caps content so a record always fits one event;
- ``writer``: the two sinks. ``UsageLogWriter`` (``api``) puts records with the
  Lambda's own credentials, one stream per user, and prints them to stdout when
  CloudWatch Logs fails; ``StdoutUsageSink`` (``stdout``) prints each record for
  Lambda to deliver to the usage log group.

Logging never raises into the caller's path: the answer is returned regardless.
"""
