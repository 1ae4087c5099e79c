"""Usage records: one per invocation, written to the tenant's own CloudWatch Logs.

- ``record``: ``UsageRecorder`` builds an invocation's outcome record (success,
  error, provisional timeout) exactly once; the schema is ``contracts.usage_record``;
- ``callback``: ``UsageCallback``, the LangChain callback that hands the prompt,
  the answer's usage and its response metadata to the recorder;
- ``truncation``: ``fit_record`` caps content so a record always fits one event;
- ``writer``: ``UsageLogWriter`` delivers records, one stream per user, with the
  Lambda's own credentials, and prints them to stdout when CloudWatch Logs fails.

Logging never raises into the caller's path: the answer is returned regardless.
"""
