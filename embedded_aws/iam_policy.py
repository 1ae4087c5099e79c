"""A small IAM policy evaluator for the embedded cloud.

moto stores policies but never evaluates them on the calls this project cares
about, so the embedded cloud evaluates them itself: trust policies on
``sts:AssumeRole`` and identity policies on Bedrock calls. The subset follows
IAM's documented semantics:

* an explicit ``Deny`` wins over any ``Allow``; no matching ``Allow`` is an
  implicit deny;
* ``Action``/``NotAction`` match case-insensitively with ``*``/``?`` wildcards;
  ``Resource``/``NotResource`` match ARNs segment by segment with wildcards;
* ``Principal``/``NotPrincipal`` with ``AWS`` (account id, ``:root``, role,
  user or assumed-role ARN, ``*``) and ``Service`` entries;
* condition blocks are ANDed across operators and keys, ORed across the values
  of one key; operators ``String(Not)Equals(IgnoreCase)``, ``String(Not)Like``,
  ``Arn(Not)Equals``, ``Arn(Not)Like``, ``Bool`` and ``Null``, each with an
  ``...IfExists`` form; condition keys are case-insensitive, values are not
  (except for the ``IgnoreCase`` operators);
* a missing context key makes a positive operator false and a negated operator
  true, as IAM documents.

Operators outside this subset are treated conservatively: they never make an
``Allow`` apply, and they always make a ``Deny`` apply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

Context = Mapping[str, str | Sequence[str] | None]


class Decision(StrEnum):
    """Outcome of evaluating one or more policies for a request."""

    ALLOW = "allow"
    EXPLICIT_DENY = "explicit_deny"
    IMPLICIT_DENY = "implicit_deny"


@dataclass(frozen=True)
class Principal:
    """Who makes a request, as IAM's ``Principal`` element sees it.

    ``arn`` is the caller's ARN (for an assumed-role session the
    ``arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`` ARN); ``role_arn`` is the
    IAM role behind a session; ``service`` is set when an AWS service (for
    example ``lambda.amazonaws.com``) is the caller.
    """

    account_id: str | None = None
    arn: str | None = None
    role_arn: str | None = None
    service: str | None = None

    def aws_identifiers(self) -> set[str]:
        """Every ``Principal: {"AWS": ...}`` value that names this caller exactly."""
        ids = {a for a in (self.arn, self.role_arn) if a}
        return ids


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


def statements(document: str | Mapping[str, Any]) -> list[dict[str, Any]]:
    """The statements of a policy document, always as a list of dicts."""
    parsed = parse_document(document)
    return [s for s in _as_list(parsed.get("Statement")) if isinstance(s, dict)]


@lru_cache(maxsize=4096)
def _glob_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = []
    for ch in pattern:
        if ch == "*":
            parts.append(".*")
        elif ch == "?":
            parts.append(".")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard match: ``*`` is any run of characters, ``?`` exactly one."""
    return _glob_regex(pattern, ignore_case).fullmatch(value) is not None


def arn_match(pattern: str, arn: str) -> bool:
    """Match an ARN against a pattern segment by segment, as ``ArnLike`` does.

    The first five colon-separated segments (arn, partition, service, region,
    account) match individually, so a wildcard never spills across a colon;
    the resource part matches as a whole.
    """
    if pattern == "*":
        return True
    p_parts = pattern.split(":", 5)
    a_parts = arn.split(":", 5)
    if len(p_parts) != 6 or len(a_parts) != 6:
        return glob_match(pattern, arn)
    return all(glob_match(p, a) for p, a in zip(p_parts, a_parts, strict=True))


def _substitute_variables(pattern: str, context: Context) -> str:
    """Replace ``${key}`` policy variables; unknown variables never match."""
    if "${" not in pattern:
        return pattern

    def repl(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in {"*", "?", "$"}:
            return name
        value = _lookup(context, name)
        if value is None or isinstance(value, list):
            return "\x00unresolved\x00"
        return value

    return re.sub(r"\$\{([^}]+)\}", repl, pattern)


def _lookup(context: Context, key: str) -> str | list[str] | None:
    lowered = key.lower()
    for k, v in context.items():
        if k.lower() == lowered:
            if v is None:
                return None
            return v if isinstance(v, str) else list(v)
    return None


def _action_matches(patterns: Iterable[Any], action: str) -> bool:
    return any(isinstance(p, str) and glob_match(p, action, ignore_case=True) for p in patterns)


def _resource_matches(patterns: Iterable[Any], resource: str, context: Context) -> bool:
    return any(
        isinstance(p, str) and arn_match(_substitute_variables(p, context), resource)
        for p in patterns
    )


def _account_of_principal_entry(entry: str) -> str | None:
    if re.fullmatch(r"\d{12}", entry):
        return entry
    match = re.fullmatch(r"arn:[\w-]+:iam::(\d{12}):root", entry)
    return match.group(1) if match else None


def principal_matches(principal_element: Any, principal: Principal) -> tuple[bool, bool]:
    """Does a ``Principal`` element name the caller? Returns (matches, named exactly)."""
    if principal_element == "*":
        return True, False
    if not isinstance(principal_element, Mapping):
        return False, False
    exact_ids = principal.aws_identifiers()
    for entry in _as_list(principal_element.get("AWS")):
        if not isinstance(entry, str):
            continue
        if entry == "*":
            return True, False
        account = _account_of_principal_entry(entry)
        if account is not None:
            if principal.account_id == account and principal.service is None:
                return True, False
            continue
        if entry in exact_ids:
            return True, True
    if principal.service:
        for entry in _as_list(principal_element.get("Service")):
            if entry == principal.service:
                return True, True
    return False, False


_OPERATOR_RE = re.compile(
    r"^(?P<base>StringEquals|StringNotEquals|StringEqualsIgnoreCase|StringNotEqualsIgnoreCase"
    r"|StringLike|StringNotLike|ArnEquals|ArnLike|ArnNotEquals|ArnNotLike|Bool|Null)"
    r"(?P<if_exists>IfExists)?$"
)


def _value_matches(base: str, expected: str, actual: str, context: Context) -> bool:
    expected = _substitute_variables(expected, context)
    if base in {"StringEquals", "StringNotEquals"}:
        return expected == actual
    if base in {"StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"}:
        return expected.lower() == actual.lower()
    if base in {"StringLike", "StringNotLike"}:
        return glob_match(expected, actual)
    if base in {"ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"}:
        return arn_match(expected, actual)
    if base == "Bool":
        return expected.lower() == actual.lower()
    return False


def _condition_key_holds(operator: str, key: str, expected: Any, context: Context) -> bool | None:
    """One key of one operator. None means: operator not supported."""
    match = _OPERATOR_RE.match(operator)
    if match is None:
        return None
    base, if_exists = match.group("base"), bool(match.group("if_exists"))
    actual = _lookup(context, key)
    expected_values = [
        str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(expected)
    ]
    if base == "Null":
        # Null: "true" means the key must be absent, "false" that it is present.
        wants_absent = any(v.lower() == "true" for v in expected_values)
        return (actual is None) == wants_absent
    negated = "Not" in base
    if actual is None:
        return bool(if_exists or negated)
    actual_values = [actual] if isinstance(actual, str) else actual
    # A single-valued key: the condition holds if any expected value matches.
    hit = any(_value_matches(base, e, a, context) for a in actual_values for e in expected_values)
    return not hit if negated else hit


def conditions_hold(condition: Any, context: Context, *, effect: str) -> bool:
    """Evaluate a ``Condition`` block (AND of operators and keys)."""
    if not condition:
        return True
    if not isinstance(condition, Mapping):
        return effect == "Deny"
    for operator, keys in condition.items():
        if not isinstance(keys, Mapping):
            return effect == "Deny"
        for key, expected in keys.items():
            held = _condition_key_holds(str(operator), str(key), expected, context)
            if held is None:
                # Unsupported operator: never grant through it, always deny through it.
                return effect == "Deny"
            if not held:
                return False
    return True


def _statement_applies(
    statement: Mapping[str, Any], request: Request, *, check_principal: bool
) -> tuple[bool, bool]:
    effect = statement.get("Effect")
    if "Action" in statement:
        if not _action_matches(_as_list(statement["Action"]), request.action):
            return False, False
    elif "NotAction" in statement:
        if _action_matches(_as_list(statement["NotAction"]), request.action):
            return False, False
    else:
        return False, False
    if "Resource" in statement:
        if not _resource_matches(
            _as_list(statement["Resource"]), request.resource, request.context
        ):
            return False, False
    elif "NotResource" in statement:
        if _resource_matches(_as_list(statement["NotResource"]), request.resource, request.context):
            return False, False
    elif not check_principal:
        # Identity policies must name a resource; trust policies do not.
        return False, False
    exact = False
    if check_principal:
        if "Principal" in statement:
            matched, exact = principal_matches(statement["Principal"], request.principal)
            if not matched:
                return False, False
        elif "NotPrincipal" in statement:
            matched, _ = principal_matches(statement["NotPrincipal"], request.principal)
            if matched:
                return False, False
        else:
            return False, False
    if not conditions_hold(statement.get("Condition"), request.context, effect=str(effect)):
        return False, False
    return True, exact


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
        for statement in statements(document):
            applies, named_exactly = _statement_applies(
                statement, request, check_principal=resource_policy
            )
            if not applies:
                continue
            if statement.get("Effect") == "Deny":
                return Evaluation(Decision.EXPLICIT_DENY)
            if statement.get("Effect") == "Allow":
                allowed = True
                exact = exact or named_exactly
    return Evaluation(Decision.ALLOW if allowed else Decision.IMPLICIT_DENY, exact)
