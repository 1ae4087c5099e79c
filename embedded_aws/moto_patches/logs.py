"""What moto's CloudWatch Logs gets wrong for this project, and the fixes.

Each fix corrects moto (pinned 5.2.5) toward CloudWatch Logs' documented behaviour:

* **JSON filter patterns.** moto's ``EventMessageFilter`` understands only
  plain and quoted terms; a pattern that starts with anything else, such as
  ``{ $.user_id = "carol" }``, matches every event, so FilterLogEvents returned
  the function's ``platform.*`` lines and other users' records too. CloudWatch
  Logs evaluates a JSON pattern against each event parsed as JSON, and an event
  that is not JSON never matches one. Here a pattern in braces is evaluated as
  CloudWatch Logs documents it ("Filter pattern syntax for metric filters,
  subscription filters, filter log events, and Live Tail", JSON section):
  ``=``/``!=`` on strings (``*`` as a wildcard) and on numbers, ``<``, ``>``,
  ``<=``, ``>=`` on numbers, ``&&``/``||`` with parentheses, nested selectors
  (``$.a.b``, ``$.items[0].id``), ``IS NULL``, ``IS TRUE``/``IS FALSE`` and
  ``NOT EXISTS``. A comparison on a field the event lacks does not match.
  Other patterns keep moto's behaviour.
* **A log group's KMS key from a template.** ``AWS::Logs::LogGroup`` takes
  ``KmsKeyId``; moto's model reads only the API's ``kmsKeyId`` spelling, so a
  deployed group showed no ``kmsKeyId`` in DescribeLogGroups and its encryption
  could not be seen offline.
* **Logs Insights queries.** moto's engine ignores ``filter`` and most of the
  language, so a reader could not use Insights offline. StartQuery here runs
  the query with ``embedded_aws.moto_patches.logs_insights`` (its docstring
  lists the language it runs and what moto got wrong), refusing what it does not
  run with ``MalformedQueryException``. StartQuery takes exactly one of
  ``logGroupName``, ``logGroupNames`` and ``logGroupIdentifiers`` (names or
  ARNs, up to 50; moto answered HTTP 500 to the last), a missing group is
  ``ResourceNotFoundException``, and its ``limit`` caps the rows. GetQueryResults
  answers an unknown query id with ``ResourceNotFoundException``, not HTTP 500.
* **Updating a log group in a stack.** moto's ``LogGroup`` has no update, so a
  stack update that changed ``RetentionInDays`` or ``KmsKeyId`` left the group
  as it was while the stack said UPDATE_COMPLETE. CloudFormation changes both
  in place and replaces the group when its name changes.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from unittest import mock

from moto.core.utils import utcnow
from moto.logs import models as logs_models
from moto.logs.exceptions import InvalidParameterException, ResourceNotFoundException
from moto.logs.models import LogGroup, LogQuery, logs_backends
from moto.logs.responses import LogsResponse
from moto.logs.utils import EventMessageFilter

from embedded_aws.moto_patches.logs_insights import (
    MalformedQueryException,
    QueryOutcome,
    Row,
    event_row,
    parse_query,
    run_query,
)

_original_log_group_create = LogGroup.create_from_cloudformation_json
MAX_QUERY_LOG_GROUPS = 50  # StartQuery's documented limit


def install() -> Callable[[], None]:
    """Install every CloudWatch Logs fix; returns a function that undoes them."""
    patches = contextlib.ExitStack()
    patches.enter_context(mock.patch.object(LogsResponse, "start_query", _start_query))
    patches.enter_context(mock.patch.object(LogsResponse, "get_query_results", _get_query_results))
    # Both FilterLogEvents and Live Tail build their filter from this module name.
    patches.enter_context(
        mock.patch.object(logs_models, "EventMessageFilter", JsonAwareEventMessageFilter)
    )
    patches.enter_context(
        mock.patch.object(
            LogGroup, "create_from_cloudformation_json", classmethod(_log_group_create)
        )
    )
    patches.enter_context(
        mock.patch.object(
            LogGroup,
            "update_from_cloudformation_json",
            classmethod(_log_group_update),
            create=True,
        )
    )
    return patches.close


# -- JSON filter patterns ----------------------------------------------------------------


class FilterPatternError(InvalidParameterException):
    """A JSON filter pattern CloudWatch Logs would reject (its InvalidParameterException)."""

    def __init__(self, message: str) -> None:
        super().__init__(msg=message)


class JsonAwareEventMessageFilter(EventMessageFilter):
    """moto's event filter that evaluates JSON patterns (``{ ... }``) as CloudWatch Logs does."""

    def __init__(self, pattern: str) -> None:
        stripped = (pattern or "").strip()
        self.json_condition: Condition | None = None
        if stripped.startswith("{"):
            self.json_condition = parse_json_filter_pattern(stripped)
        else:
            super().__init__(pattern)

    def matches(self, message: str) -> bool:
        if self.json_condition is None:
            return bool(super().matches(message))
        try:
            event = json.loads(message)
        except ValueError:
            return False  # a JSON pattern never matches an event that is not JSON
        return self.json_condition.holds(event)


_MISSING = object()


@dataclass(frozen=True)
class Selector:
    """``$.a.b[0]``: the path to one value in an event."""

    steps: tuple[str | int, ...]

    def value_in(self, event: Any) -> Any:
        """The selected value, or ``_MISSING`` when the event has no such field."""
        current = event
        for step in self.steps:
            if isinstance(step, int):
                if not isinstance(current, list) or step >= len(current):
                    return _MISSING
            elif not isinstance(current, dict) or step not in current:
                return _MISSING
            current = current[step]
        return current


class Condition:
    """A part of a JSON filter pattern that holds, or not, for one parsed event."""

    def holds(self, event: Any) -> bool:
        raise NotImplementedError


@dataclass(frozen=True)
class Comparison(Condition):
    """``$.field <op> value``; strings compare with ``=``/``!=`` only, numbers with all six."""

    selector: Selector
    operator: str
    value: str | float

    def holds(self, event: Any) -> bool:
        actual = self.selector.value_in(event)
        if actual is _MISSING or actual is None:
            return False
        if isinstance(self.value, str):
            if isinstance(actual, dict | list):
                return False
            # A number or boolean compares as its JSON text: "*" matches any value.
            text = actual if isinstance(actual, str) else json.dumps(actual)
            equal = _wildcard(self.value).fullmatch(text) is not None
            return equal if self.operator == "=" else not equal
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            return False
        return _NUMERIC[self.operator](float(actual), self.value)


def _wildcard(value: str) -> re.Pattern[str]:
    """``*`` matches any text; everything else literally (no ``?`` or ``[...]`` as in glob)."""
    return re.compile(".*".join(re.escape(part) for part in value.split("*")), re.DOTALL)


_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}


@dataclass(frozen=True)
class Check(Condition):
    """``IS NULL``, ``IS TRUE``, ``IS FALSE`` or ``NOT EXISTS`` on one field."""

    selector: Selector
    kind: str  # "NULL", "TRUE", "FALSE" or "NOT EXISTS"

    def holds(self, event: Any) -> bool:
        actual = self.selector.value_in(event)
        if self.kind == "NOT EXISTS":
            return actual is _MISSING
        expected = {"NULL": None, "TRUE": True, "FALSE": False}[self.kind]
        return actual is expected


@dataclass(frozen=True)
class Both(Condition):
    """``left && right``."""

    left: Condition
    right: Condition

    def holds(self, event: Any) -> bool:
        return self.left.holds(event) and self.right.holds(event)


@dataclass(frozen=True)
class Either(Condition):
    """``left || right``."""

    left: Condition
    right: Condition

    def holds(self, event: Any) -> bool:
        return self.left.holds(event) or self.right.holds(event)


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))
      | (?P<selector>\$(?:\.[A-Za-z0-9_@\-]+|\[\d+\])*)
      | (?P<word>[^\s()=!<>&|"]+)
    )""",
    re.VERBOSE,
)


def _tokens(body: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(body):
        if body[position:].strip() == "":
            break
        match = _TOKEN.match(body, position)
        if match is None or match.end() == position:
            raise FilterPatternError(f"Invalid character(s) in term '{body[position:]}'")
        kind = str(match.lastgroup)
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


# moto builds a filter per event: parse each pattern once.
@functools.lru_cache(maxsize=256)
def parse_json_filter_pattern(pattern: str) -> Condition:
    """Parse ``{ <conditions> }`` into a condition; ``FilterPatternError`` when malformed."""
    if not (pattern.startswith("{") and pattern.endswith("}")):
        raise FilterPatternError("Invalid JSON filter pattern: must be enclosed in { }")
    parser = _Parser(_tokens(pattern[1:-1]))
    condition = parser.either()
    if parser.position != len(parser.tokens):
        raise FilterPatternError(f"Unexpected '{parser.tokens[parser.position][1]}'")
    return condition


class _Parser:
    """Recursive descent: ``||`` binds looser than ``&&``; parentheses group."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.position = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise FilterPatternError("Incomplete JSON filter pattern")
        self.position += 1
        return token

    def either(self) -> Condition:
        condition = self.both()
        while self._peek() == ("op", "||"):
            self._take()
            condition = Either(condition, self.both())
        return condition

    def both(self) -> Condition:
        condition = self.primary()
        while self._peek() == ("op", "&&"):
            self._take()
            condition = Both(condition, self.primary())
        return condition

    def primary(self) -> Condition:
        kind, text = self._take()
        if (kind, text) == ("op", "("):
            condition = self.either()
            if self._take() != ("op", ")"):
                raise FilterPatternError("Missing ')' in JSON filter pattern")
            return condition
        if kind != "selector":
            raise FilterPatternError(f"Expected a selector such as $.field, got '{text}'")
        selector = _selector(text)
        kind, text = self._take()
        if (kind, text.upper()) == ("word", "IS"):
            test = self._take()[1].upper()
            if test not in ("NULL", "TRUE", "FALSE"):
                raise FilterPatternError(f"Expected NULL, TRUE or FALSE after IS, got '{test}'")
            return Check(selector, test)
        if (kind, text.upper()) == ("word", "NOT"):
            if self._take()[1].upper() != "EXISTS":
                raise FilterPatternError("Expected EXISTS after NOT")
            return Check(selector, "NOT EXISTS")
        if kind != "op" or text not in _NUMERIC:
            raise FilterPatternError(f"Expected a comparison operator, got '{text}'")
        return Comparison(selector, text, self._value(text))

    def _value(self, operator: str) -> str | float:
        kind, text = self._take()
        if kind == "string":
            return str(json.loads(text))
        if kind != "word":
            raise FilterPatternError(f"Expected a value, got '{text}'")
        try:
            return float(text)
        except ValueError:
            if operator not in ("=", "!="):
                raise FilterPatternError(
                    f"Operator {operator} needs a number, got '{text}'"
                ) from None
            return text  # an unquoted string, as in { $.eventType = UpdateTrail }


def _selector(text: str) -> Selector:
    steps: list[str | int] = []
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", text.removeprefix("$")):
        steps.append(int(index) if index else name)
    return Selector(tuple(steps))


# -- AWS::Logs::LogGroup -----------------------------------------------------------------


def _log_group_create(
    cls: Any,
    /,
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Any:
    """moto's create, with the template's ``KmsKeyId`` under the name moto's model reads."""
    properties = dict(cloudformation_json.get("Properties") or {})
    if properties.get("KmsKeyId"):
        properties["kmsKeyId"] = properties["KmsKeyId"]
    return _original_log_group_create(
        resource_name,
        {**cloudformation_json, "Properties": properties},
        account_id,
        region_name,
        **kwargs,
    )


def _log_group_update(
    cls: Any,
    /,
    original_resource: Any,
    new_resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
) -> Any:
    """Change retention and KMS key in place; a new name replaces the group (new one first)."""
    properties = cloudformation_json.get("Properties") or {}
    name = properties.get("LogGroupName") or original_resource.name
    if name != original_resource.name:
        replacement = _log_group_create(
            cls, new_resource_name, cloudformation_json, account_id, region_name
        )
        logs_backends[account_id][region_name].delete_log_group(original_resource.name)
        return replacement
    original_resource.retention_in_days = properties.get("RetentionInDays")
    original_resource.kms_key_id = properties.get("KmsKeyId")
    return original_resource


# -- Logs Insights: StartQuery and GetQueryResults ------------------------------------------


class CompletedQuery(LogQuery):
    """A query run at StartQuery, kept where moto's GetQueryResults and DescribeQueries look."""

    def __init__(
        self,
        query_id: str,
        start_time: int,
        end_time: int,
        query: str,
        log_groups: list[LogGroup],
        outcome: QueryOutcome,
    ) -> None:
        # moto's __init__ would run its own engine; set what its other methods read.
        self.query_id = query_id
        self.start_time = start_time
        self.end_time = end_time
        self.query = query
        self.log_group_names = [group.name for group in log_groups]
        self.create_time = utcnow()
        self.status = "Complete"
        self.outcome = outcome

    def to_result_json(self) -> dict[str, Any]:
        return {
            "results": self.outcome.results,
            "statistics": self.outcome.statistics,
            "status": self.status,
        }


def _start_query(self: LogsResponse) -> str:
    language = self._get_param("queryLanguage") or "CWLI"
    query_string = self._get_param("queryString") or ""
    if language != "CWLI":
        raise MalformedQueryException(
            f"queryLanguage {language} is not supported by the embedded cloud (only CWLI is)",
            0,
            len(query_string),
        )
    start_s = self._get_int_param("startTime")
    end_s = self._get_int_param("endTime")
    if end_s < start_s:
        raise InvalidParameterException("End time cannot be less than Start time")
    query = parse_query(query_string)
    groups = [_resolve_log_group(self, i) for i in _log_group_identifiers(self)]

    rows: list[Row] = []
    bytes_scanned = 0
    for group, stream_name, event in _events(groups):
        # Whole seconds, both ends included.
        if start_s * 1000 <= event.timestamp < (end_s + 1) * 1000:
            rows.append(event_row(group, stream_name, event))
            bytes_scanned += len(event.message.encode())
    outcome = run_query(
        query, rows, bytes_scanned=bytes_scanned, row_limit=self._get_int_param("limit")
    )
    query_id = str(uuid.uuid4())
    self.logs_backend.queries[query_id] = CompletedQuery(
        query_id, start_s, end_s, query_string, groups, outcome
    )
    return json.dumps({"queryId": query_id})


def _log_group_identifiers(response: LogsResponse) -> list[str]:
    one = response._get_param("logGroupName")
    names = response._get_param("logGroupNames")
    identifiers = response._get_param("logGroupIdentifiers")
    given = [choice for choice in (one, names, identifiers) if choice]
    if len(given) != 1:
        raise InvalidParameterException(
            "StartQuery takes exactly one of logGroupName, logGroupNames or logGroupIdentifiers"
        )
    chosen = [one] if one else list(given[0])
    if len(chosen) > MAX_QUERY_LOG_GROUPS:
        raise InvalidParameterException(
            f"A query can include up to {MAX_QUERY_LOG_GROUPS} log groups, not {len(chosen)}"
        )
    return chosen


def _resolve_log_group(response: LogsResponse, identifier: str) -> LogGroup:
    """A log group by name or by ARN (``arn:aws:logs:<region>:<account>:log-group:<name>``)."""
    name = identifier
    if identifier.startswith("arn:"):
        if identifier.endswith("*"):
            raise InvalidParameterException(f"A log group ARN must not end with '*': {identifier}")
        parts = identifier.split(":", 6)
        if len(parts) != 7 or parts[5] != "log-group":
            raise InvalidParameterException(f"Invalid log group ARN: {identifier}")
        region, account, name = parts[3], parts[4], parts[6]
        if (region, account) != (response.region, response.current_account):
            # No cross-account observability here: another account's group is not visible.
            raise ResourceNotFoundException(
                f"Log group '{name}' does not exist for account ID '{response.current_account}'"
            )
    group = response.logs_backend.groups.get(name)
    if group is None:
        raise ResourceNotFoundException(
            f"Log group '{name}' does not exist for account ID '{response.current_account}'"
        )
    return group


def _get_query_results(self: LogsResponse) -> str:
    query_id = self._get_param("queryId")
    query = self.logs_backend.queries.get(query_id)
    if query is None:  # moto answered HTTP 500 (a KeyError)
        raise ResourceNotFoundException(f"Query {query_id} does not exist")
    return json.dumps(query.to_result_json())


def _events(groups: Sequence[LogGroup]) -> Iterator[tuple[LogGroup, str, Any]]:
    for group in groups:
        for stream_name, stream in group.streams.items():
            for event in stream.events:
                yield group, stream_name, event
