"""A small IAM policy evaluator for the embedded cloud.

moto stores policies but never evaluates them on the calls this project cares
about, so the embedded cloud evaluates them itself: trust policies on
``sts:AssumeRole`` and identity policies on Bedrock calls. The subset follows
IAM's documented semantics:

* an explicit ``Deny`` wins over any ``Allow``; no matching ``Allow`` is an
  implicit deny;
* ``Action``/``NotAction`` match case-insensitively with ``*``/``?`` wildcards;
  ``Resource``/``NotResource`` match ARNs segment by segment with wildcards
  (a wildcard never crosses the colons before the resource part);
* ``Principal``/``NotPrincipal`` with ``AWS`` (account id, ``:root``, role,
  user or assumed-role ARN, ``*``) and ``Service`` entries, only within the
  caller's partition; a ``Deny`` with ``NotPrincipal`` exempts a session only
  when it names the role and its account, a user only with its account;
* condition blocks are ANDed across operators and keys, ORed across the values
  of one key; operators ``String*``, ``Arn*``, ``Numeric*``, ``Date*``,
  ``Bool``, ``IpAddress``/``NotIpAddress`` (each with an ``...IfExists`` form
  and the ``ForAllValues:``/``ForAnyValue:`` set qualifiers) and ``Null``;
  condition keys are case-insensitive, values are not (except for the
  ``IgnoreCase`` operators);
* a missing context key makes a positive operator false and a negated operator
  true; ``ForAllValues`` on a missing key is true, ``ForAnyValue`` false;
* policy variables (``${aws:username}``, ``${key, 'default'}`` and the escapes
  ``${*}``, ``${?}``, ``${$}``) in ``Resource`` and in string and ARN
  conditions of ``2012-10-17`` documents; older documents keep them as text.

Where the documentation leaves an outcome open, or a policy is one IAM would
reject (an unsupported operator, an unresolvable variable, a malformed
element), the evaluator fails closed: such a piece never makes an ``Allow``
apply and always lets a ``Deny`` apply.
"""

from __future__ import annotations

import ipaddress
import json
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache
from typing import Any, TypeAlias
from urllib.parse import unquote

Context = Mapping[str, str | Sequence[str] | None]

# A three-valued answer: None is "undetermined" (undocumented or invalid),
# which resolves to whatever makes the decision a deny.
_Tri: TypeAlias = bool | None

# One character of a pattern and whether it is literal: characters that came
# from a policy variable or an escape never act as wildcards or separators.
_Chars: TypeAlias = tuple[tuple[str, bool], ...]

VARIABLES_VERSION = "2012-10-17"


class Decision(StrEnum):
    """Outcome of evaluating one or more policies for a request."""

    ALLOW = "allow"
    EXPLICIT_DENY = "explicit_deny"
    IMPLICIT_DENY = "implicit_deny"


def _partition_of(arn: str | None) -> str | None:
    if not arn:
        return None
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[1]:
        return parts[1]
    return None


@dataclass(frozen=True)
class Principal:
    """Who makes a request, as IAM's ``Principal`` element sees it.

    ``arn`` is the caller's ARN (for an assumed-role session the
    ``arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`` ARN); ``role_arn`` is the
    IAM role behind a session; ``service`` is set when an AWS service (for
    example ``lambda.amazonaws.com``) is the caller. Without an ARN the
    caller's partition is unknown, so no account principal can match it.
    """

    account_id: str | None = None
    arn: str | None = None
    role_arn: str | None = None
    service: str | None = None

    def aws_identifiers(self) -> set[str]:
        """Every ``Principal: {"AWS": ...}`` value that names this caller exactly."""
        ids = {a for a in (self.arn, self.role_arn) if a}
        return ids

    @property
    def partition(self) -> str | None:
        """The partition (``aws``, ``aws-cn``, ...) of the caller's ARN, if known."""
        return _partition_of(self.arn) or _partition_of(self.role_arn)


@dataclass(frozen=True)
class Request:
    """One authorization question: may ``principal`` do ``action`` on ``resource``."""

    action: str
    resource: str
    principal: Principal = field(default_factory=Principal)
    context: Context = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    """The decision and, for a principal match, whether it named the caller exactly."""

    decision: Decision
    # True when an Allow matched through a principal naming the caller itself
    # (role/user/session ARN or service), not merely its account: IAM then
    # needs no identity policy for a same-account AssumeRole.
    principal_named_exactly: bool = False


class PolicyDocumentError(ValueError):
    """A policy document that is not valid JSON or not an IAM policy."""


def parse_document(document: str | Mapping[str, Any]) -> dict[str, Any]:
    """Parse a policy document as moto stores it (JSON, sometimes URL-encoded)."""
    if isinstance(document, Mapping):
        return dict(document)
    text = document.strip()
    if not text.startswith("{"):
        text = unquote(text)
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyDocumentError(f"policy is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise PolicyDocumentError("policy must be a JSON object")
    return parsed


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _statements_of(parsed: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [s for s in _as_list(parsed.get("Statement")) if isinstance(s, dict)]


def statements(document: str | Mapping[str, Any]) -> list[dict[str, Any]]:
    """The statements of a policy document, always as a list of dicts."""
    return _statements_of(parse_document(document))


def _any3(results: Iterable[_Tri]) -> _Tri:
    undetermined = False
    for result in results:
        if result is True:
            return True
        if result is None:
            undetermined = True
    return None if undetermined else False


def _all3(results: Iterable[_Tri]) -> _Tri:
    undetermined = False
    for result in results:
        if result is False:
            return False
        if result is None:
            undetermined = True
    return None if undetermined else True


def _not3(result: _Tri) -> _Tri:
    return None if result is None else not result


def _resolve(result: _Tri, effect: str) -> bool:
    """Fail closed: an undetermined piece makes a Deny apply and an Allow not."""
    return effect == "Deny" if result is None else result


def _lookup(context: Context, key: str) -> str | list[str] | None:
    lowered = key.lower()
    for k, v in context.items():
        if k.lower() == lowered:
            if v is None or isinstance(v, str):
                return v
            # An empty set is as good as absent (IAM: "resolves to an empty data set").
            return list(v) or None
    return None


@lru_cache(maxsize=4096)
def _pattern_chars(pattern: str) -> _Chars:
    return tuple((ch, False) for ch in pattern)


_VARIABLE_RE = re.compile(r"\s*([^\s,'{}]+)\s*(?:,\s*'([^']*)'\s*)?")
_ESCAPES = frozenset({"*", "?", "$"})


def _variable_value(body: str, context: Context) -> str | None:
    """The text a ``${body}`` variable stands for, or None if it does not resolve."""
    if body in _ESCAPES:
        return body
    match = _VARIABLE_RE.fullmatch(body)
    if match is None:
        return None
    name, default = match.groups()
    value = _lookup(context, name)
    if isinstance(value, str):
        return value
    # A multivalued key cannot stand in for one string; only a missing key takes the default.
    return default if value is None else None


def _expand(pattern: str, context: Context, variables: bool) -> _Chars | None:
    """``pattern`` with policy variables substituted; None when one does not resolve."""
    if not variables or "${" not in pattern:
        return _pattern_chars(pattern)
    chars: list[tuple[str, bool]] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("${", i):
            end = pattern.find("}", i + 2)
            value = None if end < 0 else _variable_value(pattern[i + 2 : end], context)
            if value is None:
                return None
            chars.extend((ch, True) for ch in value)
            i = end + 1
        else:
            chars.append((pattern[i], False))
            i += 1
    return tuple(chars)


def _plain(chars: _Chars) -> str:
    return "".join(ch for ch, _ in chars)


@lru_cache(maxsize=4096)
def _compile(chars: _Chars, ignore_case: bool) -> re.Pattern[str]:
    parts = []
    for ch, literal in chars:
        if not literal and ch == "*":
            parts.append(".*")
        elif not literal and ch == "?":
            parts.append(".")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _glob(chars: _Chars, value: str, *, ignore_case: bool = False) -> bool:
    return _compile(chars, ignore_case).fullmatch(value) is not None


@lru_cache(maxsize=4096)
def _glob_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    return _compile(_pattern_chars(pattern), ignore_case)


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard match: ``*`` is any run of characters, ``?`` exactly one."""
    return _glob_regex(pattern, ignore_case).fullmatch(value) is not None


@dataclass(frozen=True)
class _ArnPattern:
    segments: tuple[re.Pattern[str], ...]  # six, the resource part keeps its colons
    literal_before_resource: bool  # a variable or escape before the fifth colon


@lru_cache(maxsize=4096)
def _arn_pattern(chars: _Chars) -> _ArnPattern | None:
    """The compiled segments of an ARN pattern, or None if it has fewer than six."""
    segments: list[_Chars] = []
    current: list[tuple[str, bool]] = []
    for item in chars:
        if item[0] == ":" and len(segments) < 5:
            segments.append(tuple(current))
            current = []
        else:
            current.append(item)
    segments.append(tuple(current))
    if len(segments) != 6:
        return None
    return _ArnPattern(
        tuple(_compile(segment, False) for segment in segments),
        any(literal for segment in segments[:5] for _, literal in segment),
    )


def _arn_chars_match(chars: _Chars, arn: str, *, resource_element: bool) -> _Tri:
    if chars == (("*", False),):
        return True
    pattern = _arn_pattern(chars)
    values = arn.split(":", 5)
    # Fewer than six segments would let '*' swallow region and account colons;
    # IAM rejects such patterns, and a value that is no ARN has no documented outcome.
    if pattern is None or len(values) != 6:
        return None
    if resource_element and pattern.literal_before_resource:
        # IAM: variables may only replace the resource part, after the fifth colon.
        return None
    return all(
        regex.fullmatch(value) is not None
        for regex, value in zip(pattern.segments, values, strict=True)
    )


def arn_match(pattern: str, arn: str) -> bool:
    """Match an ARN against a pattern segment by segment, as ``ArnLike`` does.

    The first five colon-separated segments (arn, partition, service, region,
    account) match individually, so a wildcard never spills across a colon;
    the resource part matches as a whole. A pattern or value that is not a
    six-segment ARN matches only the pattern ``*``.
    """
    return _arn_chars_match(_pattern_chars(pattern), arn, resource_element=False) is True


def _action_matches(patterns: Iterable[Any], action: str) -> _Tri:
    return _any3(
        glob_match(p, action, ignore_case=True) if isinstance(p, str) else None for p in patterns
    )


def _resource_matches(
    patterns: Iterable[Any], resource: str, context: Context, variables: bool
) -> _Tri:
    def one(pattern: Any) -> _Tri:
        if not isinstance(pattern, str):
            return None
        chars = _expand(pattern, context, variables)
        if chars is None:
            return None
        return _arn_chars_match(chars, resource, resource_element=True)

    return _any3(one(p) for p in patterns)


_ROOT_RE = re.compile(r"arn:([a-z0-9-]+):iam::(\d{12}):root")


def _account_entry(entry: str, policy_partition: str | None) -> tuple[str | None, str] | None:
    """(partition, account) for an account principal: a bare id or a ``:root`` ARN."""
    if re.fullmatch(r"\d{12}", entry):
        # A bare account id stands for the root ARN in the policy's own partition.
        return policy_partition, entry
    match = _ROOT_RE.fullmatch(entry)
    return (match.group(1), match.group(2)) if match else None


def _aws_entry(entry: Any, principal: Principal, policy_partition: str | None) -> tuple[_Tri, bool]:
    """Does one ``AWS`` principal entry name the caller? (matches, names it exactly)."""
    if not isinstance(entry, str):
        return None, False
    if entry == "*":
        return True, False
    account = _account_entry(entry, policy_partition)
    if account is not None:
        partition, account_id = account
        if principal.service is not None or principal.account_id != account_id:
            return False, False
        if partition is None or principal.partition is None:
            return None, False
        return partition == principal.partition, False
    if "*" in entry or "?" in entry:
        # IAM accepts '*' only on its own as a principal and rejects wildcard ARNs.
        return None, False
    named = entry in principal.aws_identifiers()
    return named, named


def _principal_element_matches(
    element: Any, principal: Principal, policy_partition: str | None
) -> tuple[_Tri, bool]:
    if element == "*":
        return True, False
    if not isinstance(element, Mapping) or not element:
        return None, False
    results: list[_Tri] = []
    exact = False
    for kind, entries in element.items():
        for entry in _as_list(entries):
            if not isinstance(entry, str):
                matched, named = None, False
            elif kind == "AWS":
                matched, named = _aws_entry(entry, principal, policy_partition)
            elif kind == "Service":
                matched = named = principal.service is not None and entry == principal.service
            else:
                # Federated and CanonicalUser principals never name the callers modelled here.
                matched, named = False, False
            exact = exact or (matched is True and named)
            results.append(matched)
    return _any3(results), exact


def principal_matches(principal_element: Any, principal: Principal) -> tuple[bool, bool]:
    """Does a ``Principal`` element name the caller? Returns (matches, named exactly)."""
    matched, exact = _principal_element_matches(principal_element, principal, principal.partition)
    return matched is True, matched is True and exact


def _not_principal_exempts(
    element: Any, principal: Principal, policy_partition: str | None
) -> bool:
    """Is the caller exempt from a ``Deny`` with this ``NotPrincipal``?

    IAM may check the account, then the role, then the session, so a session is
    exempt only when its role and account are both named, a user only with its
    account. A wildcard exempts nobody: IAM gives it no meaning here.
    """
    if not isinstance(element, Mapping):
        return False
    if principal.service is not None:
        return principal.service in _as_list(element.get("Service"))
    entries = [e for e in _as_list(element.get("AWS")) if isinstance(e, str) and e != "*"]
    account_named = any(
        _account_entry(e, policy_partition) is not None
        and _aws_entry(e, principal, policy_partition)[0] is True
        for e in entries
    )
    if not account_named:
        return False
    if principal.role_arn:
        return principal.role_arn in entries
    if principal.arn is None:
        return False
    return _ROOT_RE.fullmatch(principal.arn) is not None or principal.arn in entries


def _principal_check(
    statement: Mapping[str, Any], request: Request, *, effect: str, resource_policy: bool
) -> tuple[_Tri, bool]:
    has_principal, has_not_principal = "Principal" in statement, "NotPrincipal" in statement
    if not resource_policy:
        # IAM rejects Principal and NotPrincipal in identity policies.
        return (None if has_principal or has_not_principal else True), False
    if has_principal == has_not_principal:
        return None, False
    principal = request.principal
    partition = _partition_of(request.resource) or principal.partition
    if has_principal:
        return _principal_element_matches(statement["Principal"], principal, partition)
    element = statement["NotPrincipal"]
    if effect == "Deny":
        return not _not_principal_exempts(element, principal, partition), False
    # Allow: anyone named at any level (account, role, session) is left out.
    named, _ = _principal_element_matches(element, principal, partition)
    return named is False, False


_OPERATOR_RE = re.compile(
    r"^(?:(?P<qualifier>ForAllValues|ForAnyValue):)?"
    r"(?P<base>StringEquals|StringNotEquals|StringEqualsIgnoreCase|StringNotEqualsIgnoreCase"
    r"|StringLike|StringNotLike|ArnEquals|ArnLike|ArnNotEquals|ArnNotLike"
    r"|NumericEquals|NumericNotEquals|NumericLessThan|NumericLessThanEquals"
    r"|NumericGreaterThan|NumericGreaterThanEquals"
    r"|DateEquals|DateNotEquals|DateLessThan|DateLessThanEquals"
    r"|DateGreaterThan|DateGreaterThanEquals"
    r"|Bool|IpAddress|NotIpAddress|Null)"
    r"(?P<if_exists>IfExists)?$"
)

# Each negated operator is the negation of a positive one.
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
}

_ORDERS: dict[str, Callable[[Any, Any], Any]] = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "LessThanEquals": operator.le,
    "GreaterThan": operator.gt,
    "GreaterThanEquals": operator.ge,
}

_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_EPOCH_RE = re.compile(r"\d+(?:\.\d+)?")


def _policy_value(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return None


def _number(text: str) -> Decimal | None:
    text = text.strip()
    if not _NUMBER_RE.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _date(text: str) -> datetime | None:
    """An ISO 8601 date/time or epoch seconds, as IAM's date operators accept."""
    text = text.strip()
    try:
        if _EPOCH_RE.fullmatch(text):
            return datetime.fromtimestamp(float(text), UTC)
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _compare(expected: Any, actual: Any, relation: str) -> _Tri:
    if expected is None or actual is None:
        return None
    return bool(_ORDERS[relation](actual, expected))


def _ip_in(expected: str, actual: str) -> _Tri:
    try:
        network = ipaddress.ip_network(expected.strip(), strict=False)
        address = ipaddress.ip_address(actual.strip())
    except ValueError:
        return None
    if network.version != address.version:
        return False
    return int(network.network_address) <= int(address) <= int(network.broadcast_address)


def _value_matches(
    base: str, expected: str, actual: str, context: Context, variables: bool
) -> _Tri:
    """One policy value against one context value, for a positive operator."""
    if base.startswith(("String", "Arn")):
        # Only string and ARN conditions take policy variables.
        chars = _expand(expected, context, variables)
        if chars is None:
            return None
        if base == "StringEquals":
            return _plain(chars) == actual
        if base == "StringEqualsIgnoreCase":
            return _plain(chars).lower() == actual.lower()
        if base == "StringLike":
            return _glob(chars, actual)
        return _arn_chars_match(chars, actual, resource_element=False)
    if base.startswith("Numeric"):
        return _compare(_number(expected), _number(actual), base.removeprefix("Numeric"))
    if base.startswith("Date"):
        return _compare(_date(expected), _date(actual), base.removeprefix("Date"))
    if base == "Bool":
        wanted, got = expected.lower(), actual.lower()
        if wanted not in {"true", "false"} or got not in {"true", "false"}:
            return None
        return wanted == got
    if base == "IpAddress":
        return _ip_in(expected, actual)
    return None


def _null_holds(expected: str, absent: bool) -> _Tri:
    # Null: "true" means the key must be absent, "false" that it is present.
    wanted = expected.lower()
    if wanted == "true":
        return absent
    if wanted == "false":
        return not absent
    return None


def _condition_key_holds(
    operator_name: str, key: str, expected: Any, context: Context, variables: bool
) -> _Tri:
    """One key of one operator; None when unsupported or undetermined."""
    match = _OPERATOR_RE.match(operator_name)
    if match is None:
        return None
    qualifier, base = match.group("qualifier"), match.group("base")
    if_exists = bool(match.group("if_exists"))
    raw_values = [_policy_value(v) for v in _as_list(expected)]
    values = [v for v in raw_values if v is not None]
    if not values or len(values) != len(raw_values):
        return None
    actual = _lookup(context, key)
    if base == "Null":
        # IAM has neither NullIfExists nor set qualifiers on Null.
        if qualifier or if_exists:
            return None
        return _any3(_null_holds(v, actual is None) for v in values)
    positive = _NEGATED.get(base, base)
    negated = positive != base

    def holds_for(value: str) -> _Tri:
        hit = _any3(_value_matches(positive, e, value, context, variables) for e in values)
        return _not3(hit) if negated else hit

    if qualifier is None:
        if actual is None:
            return if_exists or negated
        if isinstance(actual, str):
            return holds_for(actual)
        # A multivalued key under a single-valued operator has no documented result.
        return holds_for(actual[0]) if len(actual) == 1 else None
    members = [m for m in ([actual] if isinstance(actual, str) else actual or []) if m != ""]
    if not members:
        return qualifier == "ForAllValues" or if_exists
    combine = _all3 if qualifier == "ForAllValues" else _any3
    return combine(holds_for(m) for m in members)


def _conditions(condition: Any, context: Context, variables: bool) -> _Tri:
    if condition is None:
        return True
    if not isinstance(condition, Mapping):
        return None
    undetermined = False
    for operator_name, keys in condition.items():
        if not isinstance(keys, Mapping) or not keys:
            undetermined = True
            continue
        for key, expected in keys.items():
            held = _condition_key_holds(str(operator_name), str(key), expected, context, variables)
            if held is False:
                return False
            undetermined = undetermined or held is None
    return None if undetermined else True


def conditions_hold(
    condition: Any, context: Context, *, effect: str, variables: bool = True
) -> bool:
    """Evaluate a ``Condition`` block (AND of operators and keys) for a statement's effect."""
    return _resolve(_conditions(condition, context, variables), effect)


def _action_check(statement: Mapping[str, Any], action: str) -> _Tri:
    has_action, has_not_action = "Action" in statement, "NotAction" in statement
    if has_action == has_not_action:
        return None  # IAM requires exactly one of them
    if has_action:
        return _action_matches(_as_list(statement["Action"]), action)
    return _not3(_action_matches(_as_list(statement["NotAction"]), action))


def _resource_check(
    statement: Mapping[str, Any], request: Request, *, resource_policy: bool, variables: bool
) -> _Tri:
    has_resource, has_not_resource = "Resource" in statement, "NotResource" in statement
    if has_resource and has_not_resource:
        return None
    if has_resource:
        patterns = _as_list(statement["Resource"])
        return _resource_matches(patterns, request.resource, request.context, variables)
    if has_not_resource:
        patterns = _as_list(statement["NotResource"])
        return _not3(_resource_matches(patterns, request.resource, request.context, variables))
    # Trust policies carry no Resource; identity statements must name one.
    return True if resource_policy else None


def _statement_applies(
    statement: Mapping[str, Any], request: Request, *, check_principal: bool, variables: bool
) -> tuple[bool, bool]:
    effect = statement.get("Effect")
    if effect not in ("Allow", "Deny"):
        return False, False
    if not _resolve(_action_check(statement, request.action), effect):
        return False, False
    resource = _resource_check(
        statement, request, resource_policy=check_principal, variables=variables
    )
    if not _resolve(resource, effect):
        return False, False
    principal, exact = _principal_check(
        statement, request, effect=effect, resource_policy=check_principal
    )
    if not _resolve(principal, effect):
        return False, False
    if not _resolve(_conditions(statement.get("Condition"), request.context, variables), effect):
        return False, False
    return True, exact and principal is True


def evaluate(
    documents: Iterable[str | Mapping[str, Any]],
    request: Request,
    *,
    resource_policy: bool = False,
) -> Evaluation:
    """Evaluate policies for a request.

    ``resource_policy=True`` evaluates resource-based policies such as a role's
    trust policy, whose statements carry a ``Principal``; otherwise the
    documents are identity policies attached to the caller.
    """
    allowed = False
    exact = False
    for document in documents:
        parsed = parse_document(document)
        # Before the 2012-10-17 language version, "${...}" is plain text.
        variables = parsed.get("Version") == VARIABLES_VERSION
        for statement in _statements_of(parsed):
            applies, named_exactly = _statement_applies(
                statement, request, check_principal=resource_policy, variables=variables
            )
            if not applies:
                continue
            if statement.get("Effect") == "Deny":
                return Evaluation(Decision.EXPLICIT_DENY)
            allowed = True
            exact = exact or named_exactly
    return Evaluation(Decision.ALLOW if allowed else Decision.IMPLICIT_DENY, exact)
