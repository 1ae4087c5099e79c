"""CloudWatch Logs Insights in the embedded cloud: the queries the product and its users send.

moto (pinned 5.2.5) runs Insights queries with ``moto.logs.logs_query``, which
reads ``fields``, ``sort`` and ``limit`` and skips every other command, ``filter``
included: ``filter event = "bedrock.invocation"`` returned every event of the
group, the function's ``platform.*`` lines among them. It also ignores
StartQuery's ``limit`` and ``logGroupIdentifiers`` (the latter answered HTTP
500), cuts the window at ``endTime``'s first millisecond, returns
``@timestamp`` as epoch milliseconds, discovers no JSON fields and answers no
``statistics``. So a reader could not use Insights against the embedded cloud.

``embedded_aws.moto_patches.logs`` serves StartQuery with this module, which
parses and runs a query as the "CloudWatch Logs Insights language query syntax"
documents it, for this subset, and refuses anything else with
``MalformedQueryException`` naming what is not supported (never ignoring it):

* ``fields f1, f2``: the system fields ``@timestamp``, ``@message``,
  ``@logStream``, ``@log`` (``account-id:log-group-name``), ``@ingestionTime``
  and ``@ptr``, and the fields discovered in a JSON event, nested ones by dotted
  path (``usage.input_tokens``, ``items.0.id``); names in backticks too. A field
  an event lacks is left out of its row. Without ``fields`` a row has
  ``@timestamp``, ``@message``, ``@logStream`` and ``@log``.
* ``filter``: ``=``, ``!=``, ``<``, ``>``, ``<=``, ``>=`` against a string or
  number (numbers compare as numbers, strings as text), ``like "text"``
  (substring), ``like /regex/`` and ``=~ /regex/``, ``in [...]``, ``not``,
  ``and``, ``or``, parentheses and ``ispresent(field)``. A comparison on a field
  the event lacks is false. Several ``filter`` commands all apply.
* ``sort f [asc|desc], ...``: descending by default; rows are in ``@timestamp``
  descending order until sorted. Events lacking the field come last.
* ``limit N`` (1 to 100,000, AWS's documented maximum); StartQuery's ``limit``
  caps the rows too, and with neither a query returns at most 10,000 rows.
* ``stats count(*) [as name] [by f1, f2]``, then only ``sort`` and ``limit``.
  Its rows are groups, not events, so they have no ``@ptr``.

Values are strings as AWS returns them: ``@timestamp`` as ``YYYY-MM-DD
HH:MM:SS.mmm`` (UTC), numbers as their JSON text, booleans as ``1``/``0`` (as
Insights shows them; its docs do not say); a JSON ``null`` is not a field.
``statistics`` counts the events in the window (``recordsScanned``,
``bytesScanned``) and those that passed the filters (``recordsMatched``). The
window is whole seconds, both ends included (the API documents ``startTime``
and ``endTime`` as inclusive epoch seconds; the reader splits windows on that
basis). The query runs during StartQuery, so GetQueryResults answers
``Complete`` at once.

The parser is written here rather than grown from moto's: moto's
``parse_query`` is a character-level state machine with no expressions, so a
filter grammar (precedence, strings, regexes, lists) would replace it whole,
and a dozen rules of recursive descent need no parsing library.
"""

from __future__ import annotations

import base64
import json
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto.logs.exceptions import LogsClientError
from moto.logs.models import LogGroup

DEFAULT_ROW_LIMIT = 10_000
MAX_ROW_LIMIT = 100_000
DEFAULT_FIELDS = ("@timestamp", "@message", "@logStream", "@log")


class MalformedQueryException(LogsClientError):
    """AWS's refusal of a query string, with its ``queryCompileError``."""

    def __init__(self, message: str, start: int, end: int) -> None:
        super().__init__("MalformedQueryException", message)
        self.description = json.dumps(
            {
                "__type": "MalformedQueryException",
                "message": message,
                "queryCompileError": {
                    "location": {"startCharOffset": start, "endCharOffset": end},
                    "message": message,
                },
            }
        )


# -- the values of one event --------------------------------------------------------------


@dataclass(frozen=True)
class FieldValue:
    """One field of an event: its text as Insights returns it, and its number if it is one."""

    text: str
    number: float | None

    @classmethod
    def of(cls, value: str | int | float | bool) -> FieldValue:
        if isinstance(value, bool):
            value = int(value)  # Insights shows a JSON boolean as 1 or 0
        if isinstance(value, int | float):
            return cls(json.dumps(value), float(value))
        try:
            return cls(value, float(value))
        except ValueError:
            return cls(value, None)


@dataclass(frozen=True)
class Row:
    """An event (with its ``@ptr``) or, after ``stats``, a group (without)."""

    fields: dict[str, FieldValue]
    ptr: str | None
    timestamp_ms: int


def insights_time(epoch_ms: int) -> str:
    """``YYYY-MM-DD HH:MM:SS.mmm`` in UTC, the way Insights writes timestamps."""
    moment = datetime.fromtimestamp(epoch_ms // 1000, UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S}.{epoch_ms % 1000:03d}"


def discovered_fields(message: str) -> dict[str, FieldValue]:
    """The fields Insights discovers in a JSON event, nested ones by dotted path."""
    try:
        parsed = json.loads(message)
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    found: dict[str, FieldValue] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}{key}.", inner)
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(f"{prefix}{index}.", inner)
        elif value is not None:
            found[prefix[:-1]] = FieldValue.of(value)

    walk("", parsed)
    return found


def event_row(group: LogGroup, stream_name: str, event: Any) -> Row:
    """One stored event with its system fields and discovered fields."""
    fields = discovered_fields(event.message)
    fields.update(
        {
            "@timestamp": FieldValue(insights_time(event.timestamp), event.timestamp),
            "@ingestionTime": FieldValue(insights_time(event.ingestion_time), event.ingestion_time),
            "@message": FieldValue(event.message, None),
            "@logStream": FieldValue(stream_name, None),
            "@log": FieldValue(f"{group.account_id}:{group.name}", None),
        }
    )
    # Opaque like AWS's, and the same for the same event in every query.
    ptr = base64.urlsafe_b64encode(
        f"{group.account_id}:{group.name}:{stream_name}:{event.event_id}".encode()
    ).decode()
    fields["@ptr"] = FieldValue(ptr, None)
    return Row(fields, ptr, event.timestamp)


# -- the query language -------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # string, regex, field, number, op, word
    text: str
    start: int
    end: int


_TOKEN = re.compile(
    r"""(?P<space>\s+|\#[^\n]*)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<regex>/(?:[^/\\\n]|\\.)+/)
      | (?P<field>`[^`]+`)
      | (?P<number>-?\d+(?:\.\d+)?(?![\w.@]))
      | (?P<op>=~|!=|<=|>=|=|<|>|\(|\)|\[|\]|,|\||\*)
      | (?P<word>[@A-Za-z_][\w.@]*)""",
    re.VERBOSE,
)


def _tokens(query: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(query):
        match = _TOKEN.match(query, position)
        if match is None:
            raise MalformedQueryException(
                f"unexpected symbol '{query[position]}' (arithmetic and other operators "
                "are not supported by the embedded cloud's Insights)",
                position,
                position,
            )
        kind = str(match.lastgroup)
        if kind != "space":
            tokens.append(Token(kind, match.group(), match.start(), match.end() - 1))
        position = match.end()
    return tokens


Condition = Callable[[Row], bool]
Literal = str | float | re.Pattern[str]

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}
_KEYWORDS = {"and", "or", "not", "like", "in", "as", "by", "asc", "desc"}


def _compares(actual: FieldValue | None, op: str, literal: Literal) -> bool:
    if actual is None:
        return False
    if isinstance(literal, float):
        return actual.number is not None and _ORDER[op](actual.number, literal)
    return bool(_ORDER[op](actual.text, literal))


def _is_like(actual: FieldValue | None, pattern: Literal) -> bool:
    if actual is None:
        return False
    if isinstance(pattern, re.Pattern):
        return pattern.search(actual.text) is not None
    return str(pattern) in actual.text


@dataclass(frozen=True)
class Fields:
    names: tuple[str, ...]


@dataclass(frozen=True)
class Filter:
    condition: Condition


@dataclass(frozen=True)
class Sort:
    keys: tuple[tuple[str, bool], ...]  # (field, descending)


@dataclass(frozen=True)
class Limit:
    rows: int


@dataclass(frozen=True)
class CountBy:
    """``stats count(*) [as name] [by fields]``."""

    name: str
    by: tuple[str, ...]


Command = Fields | Filter | Sort | Limit | CountBy


@dataclass(frozen=True)
class InsightsQuery:
    """A parsed query: its commands in order."""

    commands: tuple[Command, ...]


def parse_query(query: str) -> InsightsQuery:
    """The query's commands; ``MalformedQueryException`` for what is malformed or unsupported."""
    tokens = _tokens(query)
    commands: list[Command] = []
    part: list[Token] = []
    for token in [*tokens, Token("op", "|", len(query), len(query))]:
        if (token.kind, token.text) != ("op", "|"):
            part.append(token)
            continue
        if not part:
            raise MalformedQueryException("expected a command", token.start, token.end)
        command = _CommandParser(part).command()
        if any(isinstance(c, CountBy) for c in commands) and not isinstance(command, Sort | Limit):
            raise MalformedQueryException(
                "only sort and limit may follow stats in the embedded cloud's Insights",
                part[0].start,
                part[-1].end,
            )
        commands.append(command)
        part = []
    if not commands:
        raise MalformedQueryException("the query is empty", 0, 0)
    return InsightsQuery(tuple(commands))


class _CommandParser:
    """Recursive descent over one command's tokens: ``or`` < ``and`` < ``not``."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.position = 0

    def _peek(self) -> Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, expected: str = "more of the command") -> Token:
        token = self._peek()
        if token is None:
            end = self.tokens[-1].end
            raise MalformedQueryException(f"expected {expected} at the end", end, end)
        self.position += 1
        return token

    def _at(self, *texts: str) -> bool:
        token = self._peek()
        return token is not None and token.kind in ("op", "word") and token.text.lower() in texts

    def _expect(self, text: str) -> Token:
        token = self._take(f"'{text}'")
        if token.text.lower() != text:
            raise _unexpected(token, f"'{text}'")
        return token

    def command(self) -> Command:
        name = self._take("a command")
        verb = name.text.lower()
        parsers: dict[str, Callable[[], Command]] = {
            "fields": self._fields,
            "filter": self._filter,
            "sort": self._sort,
            "limit": self._limit,
            "stats": self._stats,
        }
        if name.kind != "word" or verb not in parsers:
            raise MalformedQueryException(
                f"the command '{name.text}' is not supported by the embedded cloud's Insights "
                "(fields, filter, sort, limit and stats count(*) are)",
                name.start,
                name.end,
            )
        command = parsers[verb]()
        if (extra := self._peek()) is not None:
            raise _unexpected(extra, f"the end of the {verb} command")
        return command

    def _field(self) -> str:
        token = self._take("a field name")
        if token.kind == "field":
            return token.text[1:-1]
        if token.kind != "word" or token.text.lower() in _KEYWORDS:
            raise _unexpected(token, "a field name")
        if self._at("("):
            raise MalformedQueryException(
                f"the function '{token.text}' is not supported by the embedded cloud's Insights",
                token.start,
                token.end,
            )
        return token.text

    def _field_list(self) -> tuple[str, ...]:
        names = [self._field()]
        while self._at(","):
            self._take()
            names.append(self._field())
        if self._at("as"):
            token = self._take()
            raise MalformedQueryException(
                "derived fields ('as') are not supported by the embedded cloud's Insights",
                token.start,
                token.end,
            )
        return tuple(names)

    def _fields(self) -> Command:
        return Fields(self._field_list())

    def _sort(self) -> Command:
        keys = []
        while True:
            field = self._field()
            descending = True
            if self._at("asc", "desc"):
                descending = self._take().text.lower() == "desc"
            keys.append((field, descending))
            if not self._at(","):
                return Sort(tuple(keys))
            self._take()

    def _limit(self) -> Command:
        token = self._take("a number of rows")
        if token.kind != "number" or not token.text.isdigit():
            raise _unexpected(token, "a whole number of rows")
        rows = int(token.text)
        if not 1 <= rows <= MAX_ROW_LIMIT:
            raise MalformedQueryException(
                f"limit must be from 1 to {MAX_ROW_LIMIT}", token.start, token.end
            )
        return Limit(rows)

    def _stats(self) -> Command:
        function = self._take("an aggregation")
        if function.text.lower() != "count" or not self._at("("):
            raise MalformedQueryException(
                f"stats '{function.text}' is not supported by the embedded cloud's "
                "Insights (only count(*) is)",
                function.start,
                function.end,
            )
        self._take()
        star = self._take("'*'")
        if star.text != "*":
            raise MalformedQueryException(
                "only count(*) is supported by the embedded cloud's Insights",
                star.start,
                star.end,
            )
        self._expect(")")
        name = "count(*)"
        if self._at("as"):
            self._take()
            name = self._field()
        by: tuple[str, ...] = ()
        if self._at("by"):
            self._take()
            by = self._field_list()
        return CountBy(name, by)

    def _filter(self) -> Command:
        return Filter(self._either())

    def _either(self) -> Condition:
        conditions = [self._both()]
        while self._at("or"):
            self._take()
            conditions.append(self._both())
        if len(conditions) == 1:
            return conditions[0]
        return lambda row: any(c(row) for c in conditions)

    def _both(self) -> Condition:
        conditions = [self._negation()]
        while self._at("and"):
            self._take()
            conditions.append(self._negation())
        if len(conditions) == 1:
            return conditions[0]
        return lambda row: all(c(row) for c in conditions)

    def _negation(self) -> Condition:
        if self._at("not"):
            self._take()
            inner = self._negation()
            return lambda row: not inner(row)
        return self._primary()

    def _primary(self) -> Condition:
        if self._at("("):
            self._take()
            condition = self._either()
            self._expect(")")
            return condition
        token = self._peek()
        if token is not None and token.text.lower() == "ispresent":
            self._take()
            self._expect("(")
            field = self._field()
            self._expect(")")
            return lambda row: field in row.fields
        field = self._field()
        negated = False
        if self._at("not"):
            self._take()
            negated = True
            if not self._at("like", "in"):
                raise _unexpected(self._take("'like' or 'in'"), "'like' or 'in' after 'not'")
        condition = self._comparison(field)
        return (lambda row: not condition(row)) if negated else condition

    def _comparison(self, field: str) -> Condition:
        op = self._take("a comparison")
        verb = op.text.lower()
        if verb in ("like", "=~"):
            pattern = self._literal(allow_regex=True)
            return lambda row: _is_like(row.fields.get(field), pattern)
        if verb == "in":
            self._expect("[")
            members = [self._literal()]
            while self._at(","):
                self._take()
                members.append(self._literal())
            self._expect("]")
            return lambda row: any(_compares(row.fields.get(field), "=", m) for m in members)
        if op.kind != "op" or verb not in _ORDER:
            raise MalformedQueryException(
                f"'{op.text}' is not a comparison the embedded cloud's Insights supports "
                "(=, !=, <, >, <=, >=, like, =~, in)",
                op.start,
                op.end,
            )
        value = self._literal()
        return lambda row: _compares(row.fields.get(field), verb, value)

    def _literal(self, *, allow_regex: bool = False) -> Literal:
        token = self._take("a value")
        if token.kind == "string":
            return re.sub(r"\\(.)", r"\1", token.text[1:-1])
        if token.kind == "number":
            return float(token.text)
        if token.kind == "regex" and allow_regex:
            try:
                return re.compile(token.text[1:-1])
            except re.error as exc:
                raise MalformedQueryException(
                    f"invalid regular expression: {exc}", token.start, token.end
                ) from None
        if token.kind in ("word", "field") and not allow_regex:
            raise MalformedQueryException(
                f"comparing with the field '{token.text}' is not supported by the embedded "
                "cloud's Insights (compare with a string or a number)",
                token.start,
                token.end,
            )
        raise _unexpected(token, "a string, number or /regex/" if allow_regex else "a value")


def _unexpected(token: Token, expected: str) -> MalformedQueryException:
    return MalformedQueryException(
        f"unexpected '{token.text}', expected {expected}", token.start, token.end
    )


# -- running a query ----------------------------------------------------------------------


@dataclass(frozen=True)
class QueryOutcome:
    """The rows to return, as ``ResultField`` lists, and the query's statistics."""

    results: list[list[dict[str, str]]]
    statistics: dict[str, float]


def run_query(
    query: InsightsQuery, rows: Sequence[Row], *, bytes_scanned: int, row_limit: int | None
) -> QueryOutcome:
    """Run ``query``'s commands in order over the window's ``rows``."""
    current = sorted(rows, key=lambda row: row.timestamp_ms, reverse=True)
    shown: list[str] = []
    matched: int | None = None
    limited = False
    for command in query.commands:
        if isinstance(command, Fields):
            shown += [name for name in command.names if name not in shown]
        elif isinstance(command, Filter):
            current = [row for row in current if command.condition(row)]
        elif isinstance(command, Sort):
            for field, descending in reversed(command.keys):
                current = _sorted(current, field, descending)
        elif isinstance(command, Limit):
            matched = len(current) if matched is None else matched
            current = current[: command.rows]
            limited = True
        else:
            matched = len(current) if matched is None else matched
            current = _count(current, command)
            shown = [*command.by, command.name]
    matched = len(current) if matched is None else matched
    cap = row_limit or (None if limited else DEFAULT_ROW_LIMIT)
    shown = shown or list(DEFAULT_FIELDS)
    results = []
    for row in current[:cap]:
        result = [{"field": f, "value": row.fields[f].text} for f in shown if f in row.fields]
        if row.ptr is not None and "@ptr" not in shown:
            result.append({"field": "@ptr", "value": row.ptr})
        results.append(result)
    return QueryOutcome(
        results,
        {
            "recordsMatched": float(matched),
            "recordsScanned": float(len(rows)),
            "bytesScanned": float(bytes_scanned),
        },
    )


def _sorted(rows: list[Row], field: str, descending: bool) -> list[Row]:
    present = [row for row in rows if field in row.fields]
    missing = [row for row in rows if field not in row.fields]

    def key(row: Row) -> tuple[int, float, str]:
        value = row.fields[field]
        return (0, value.number, "") if value.number is not None else (1, 0.0, value.text)

    return sorted(present, key=key, reverse=descending) + missing


def _count(rows: list[Row], stats: CountBy) -> list[Row]:
    groups: dict[tuple[str | None, ...], list[Row]] = {}
    for row in rows:
        key = tuple(row.fields[f].text if f in row.fields else None for f in stats.by)
        groups.setdefault(key, []).append(row)
    counted = []
    for key, members in groups.items():
        fields = {
            f: FieldValue.of(text)
            for f, text in zip(stats.by, key, strict=True)
            if text is not None
        }
        fields[stats.name] = FieldValue.of(len(members))
        counted.append(Row(fields, None, members[0].timestamp_ms))
    return counted
