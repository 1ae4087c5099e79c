"""Failures whose message is written for the caller, and their error types."""

from __future__ import annotations

# A tenant or deployment problem the caller cannot fix by retrying: a missing
# inference profile, an unreadable guardrail, a settings parameter that is not there.
CONFIGURATION_ERROR = "ConfigurationError"


class ExplainedError(Exception):
    """A failure this package (or the function) explains itself: the usage record
    and the caller see ``error_type`` and the message, not a generic one.

    ``sanitized`` messages are whitespace-collapsed, credential-masked and capped
    (``outcome.Failure``); a message built only from the request's own fields
    (``sanitized = False``) is passed as it is.
    """

    error_type: str = CONFIGURATION_ERROR
    sanitized: bool = True
