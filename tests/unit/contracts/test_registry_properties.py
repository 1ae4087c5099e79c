"""Hostile registries, generated: refused with field paths, never a crash.

``app.py`` and ``tenantctl`` turn a ``RegistryError`` into a list of
``<path>: <message>`` lines; any other exception is a traceback in the operator's
face. These properties feed the registry functions data and YAML text hypothesis
makes up and check that every outcome is a usable registry or a ``RegistryError``.
The inputs that used to crash the loader are pinned by the explicit tests at the end.
"""

from __future__ import annotations

import copy
import datetime
import signal
import string
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from contracts.registry import (
    RegistryError,
    RegistryIssue,
    TenantRegistry,
    load_registry,
    parse_registry,
    parse_registry_yaml,
)

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
US_HAIKU = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

VALID: dict[str, Any] = {
    "version": 1,
    "operations": {"account_id": "111111111111", "region": "us-east-1"},
    "additional_operations": [{"name": "eu", "account_id": "444444444444", "region": "eu-west-1"}],
    "defaults": {"models": [HAIKU]},
    "tenants": [
        {
            "id": "acme",
            "account_id": "222222222222",
            "region": "us-east-1",
            "external_id": "acme-ext-1",
        },
        {
            "id": "globex",
            "account_id": "333333333333",
            "region": "eu-west-1",
            "external_id": "globex-ext-2",
            "operations_account": "eu",
        },
    ],
}

# The same registry with anchors and merge keys, one ``{slot}`` per value.
TEMPLATE = """\
version: {version}
operations: &ops
  account_id: {ops_account}
  region: {ops_region}
  shard_capacity: {shard_capacity}
additional_operations:
  - <<: *ops
    name: {ops_name}
    account_id: "444444444444"
    region: eu-west-1
defaults:
  models: [{model}]
  log_retention_days: {retention}
tenants:
  - &acme
    id: {tenant_id}
    account_id: {tenant_account}
    region: us-east-1
    external_id: {external_id}
  - <<: *acme
    id: globex
    account_id: "333333333333"
    external_id: globex-ext-2
    operations_account: {operations_account}
    shard: {shard}
"""
VALID_SLOTS = {
    "version": "1",
    "ops_account": '"111111111111"',
    "ops_region": "us-east-1",
    "shard_capacity": "150",
    "ops_name": "eu",
    "model": HAIKU,
    "retention": "90",
    "tenant_id": "acme",
    "tenant_account": "'222222222222'",
    "external_id": "acme-ext-1",
    "operations_account": "eu",
    "shard": "0",
}
VALID_YAML = TEMPLATE.format(**VALID_SLOTS)

# Few examples: pure-Python YAML is slow, and a shared suite has a time budget.
DATA = settings(max_examples=300, deadline=None, database=None)
TEXT = settings(max_examples=300, deadline=None, database=None)


@contextmanager
def _within(seconds: float) -> Iterator[None]:
    """Fail instead of hanging (SIGALRM: the main thread, as pytest runs tests)."""

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _assert_refused_with_paths(error: RegistryError) -> None:
    assert error.issues, "a RegistryError must say what is wrong"
    for issue in error.issues:
        assert isinstance(issue, RegistryIssue)
        assert isinstance(issue.path, str)
        assert isinstance(issue.message, str) and issue.message
    assert str(error)  # what the CLI prints


def _assert_usable(registry: TenantRegistry) -> None:
    # A registry that validates must deploy and onboard without a KeyError.
    assert isinstance(registry, TenantRegistry)
    for tenant in registry.resolved_tenants():
        assert tenant.invoker_role_arn and tenant.operations_stack_name
        assert tenant.models
    assert registry.operations_stacks()
    ops = registry.operations_for_new_tenant()
    assert registry.shard_for_new_tenant(ops.name) >= 0


def _parse_or_refuse(data: Any) -> None:
    try:
        registry = parse_registry(data)
    except RegistryError as error:
        _assert_refused_with_paths(error)
        hypothesis.event("refused")
    else:
        _assert_usable(registry)
        hypothesis.event("accepted")  # shown by --hypothesis-show-statistics


# --- Data ----------------------------------------------------------------------------------

# Everything a YAML safe loader can produce, and some.
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**4000), max_value=10**4000)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["111111111111", "us-east-1", HAIKU, US_HAIKU, "acme", "x" * 100_000])
    | st.dates()
    | st.datetimes(timezones=st.none() | st.just(datetime.UTC))
    | st.binary(max_size=8)
)
keys = (
    st.text(max_size=12)
    | st.sampled_from(["operations", "tenants", "defaults", "id", "models", "<<"])
    | st.integers()
    | st.none()
    | st.booleans()
    | st.floats(allow_nan=False)
    | st.tuples(st.text(max_size=3), st.integers())
    | st.dates()
)
junk = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(keys, inner, max_size=4)
        | st.frozensets(st.text(max_size=3), max_size=3)
        | st.tuples(inner, inner)
    ),
    max_leaves=15,
)

# Values close to valid, so the cross-tenant checks run too.
NEAR_VALID: dict[str, st.SearchStrategy[Any]] = {
    "account_id": st.sampled_from(["111111111111", "222222222222", "444444444444", "1" * 11])
    | st.text(alphabet=string.digits, min_size=12, max_size=12),
    "region": st.sampled_from(
        ["us-east-1", "eu-west-1", "us-gov-west-1", "ap-south-1", "us-east-10"]
    ),
    "operations_account": st.sampled_from(["primary", "eu", "nope", "EU", ""]),
    "shard": st.integers(-1, 3),
    "shard_capacity": st.integers(0, 3),
    "iam_role_quota": st.integers(0, 5),
    "name": st.sampled_from(["primary", "eu", "us2", "1bad"]),
    "models": st.lists(
        st.sampled_from(
            [
                HAIKU,
                US_HAIKU,
                "eu.anthropic.claude-3-5-haiku-20241022-v1:0",
                "global.anthropic.claude-sonnet-4-20250514-v1:0",
                "jp.anthropic.claude-3-5-haiku-20241022-v1:0",
                "xx.anthropic.claude-3-haiku-20240307-v1:0",
                "nobody.model-v1",
            ]
        ),
        max_size=3,
    ),
    "inference_profile_regions": st.dictionaries(
        st.sampled_from(["us", "eu", "jp", "xx", "global"]),
        st.lists(st.sampled_from(["us-east-1", "eu-west-1", "ap-northeast-1", "nope"]), max_size=3),
        max_size=3,
    ),
    "external_id": st.sampled_from(["acme-ext-1", "globex-ext-2", "x", "a b", "é" * 3]),
    "id": st.sampled_from(["acme", "globex", "Acme", "a--b", "a" * 41, "-x"]),
}


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


@st.composite
def mutated_registries(draw: st.DrawFn) -> dict[str, Any]:
    """VALID with a few fields dropped, replaced (by junk or near-valid values) or added."""
    data = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(list(_paths(data))))
        action = draw(st.sampled_from(["replace", "near", "drop", "add", "copy_tenant"]))
        if not path:
            continue
        parent, leaf = _at(data, path[:-1]), path[-1]
        if action == "replace":
            parent[leaf] = draw(junk)
        elif action == "near" and isinstance(leaf, str) and leaf in NEAR_VALID:
            parent[leaf] = draw(NEAR_VALID[leaf])
        elif action == "near" and isinstance(parent, dict):
            name = draw(st.sampled_from(sorted(NEAR_VALID)))
            parent[name] = draw(NEAR_VALID[name])
        elif action == "drop" and isinstance(parent, dict):
            del parent[leaf]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(keys)] = draw(junk)
        elif action == "copy_tenant" and isinstance(data.get("tenants"), list) and data["tenants"]:
            data["tenants"].append(copy.deepcopy(draw(st.sampled_from(data["tenants"]))))
    return data


@DATA
@given(data=junk | mutated_registries() | mutated_registries())
@example(data=VALID)
@example(data={})
@example(data=[VALID])
@example(data={**VALID, "tenants": None})
@example(data={**VALID, "tenants": [None, 1, "acme", []]})
@example(data={**VALID, ("a", 1): 1, None: 2, 3: 4})  # keys YAML can make, not strings
@example(data={**VALID, "defaults": {"models": [US_HAIKU]}, "operations": {"account_id": "111111111111", "region": "eu-west-1"}})  # fmt: skip
@example(data={**VALID, "additional_operations": [VALID["operations"]]})  # same account twice
@example(data={**VALID, "operations": {**VALID["operations"], "iam_role_quota": 1}})
@example(data={**VALID, "version": 10**4000})
@example(data={**VALID, "version": datetime.date(2021, 2, 28)})
def test_any_registry_data_is_accepted_usable_or_refused_with_paths(data: Any) -> None:
    _parse_or_refuse(data)


# --- YAML text -----------------------------------------------------------------------------

# Inline tokens for a slot: YAML's odd corners, none of them known to crash.
HOSTILE_TOKENS = [
    "*ops",
    "*acme",
    "*nope",
    "&dup 1",
    "~",
    "null",
    "yes",
    "off",
    "0o17",
    "0x1F",
    "0b101",
    "1_000",
    "1:30",
    ".inf",
    "-.nan",
    "1e400",
    "111111111111",
    "0111111111111",
    "'111111111111'",
    '"\\u0000"',
    '"\\t"',
    "\t",
    "'",
    '"',
    "[",
    "{",
    "]",
    "{a: 1, a: 2}",
    "[*ops, *acme]",
    "{<<: *ops}",
    "{<<: [*ops, *acme]}",
    "{<<: 1}",
    "!!str 1",
    "!!null ''",
    "!!binary aGk=",
    "!!binary '***'",
    "!!set {a, b}",
    "!!omap [a: 1, b: 2]",
    "!!pairs [a: 1, a: 2]",
    "!!timestamp 2001-12-14",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "!custom x",
    "!!python/name:os.system",
    "? a",
    "- a",
    "|",
    ">",
    "%",
    "@x",
    "`x`",
    "&",
    "*",
    "!",
    "a: b: c",
    "'it''s'",
    '"\\x"',
    "9" * 4000,  # below Python's 4300-digit limit: see the xfail tests
    "é" * 100,
    "\U0001f99c",
    "\u2028",
    "\x85",
    "\ufeff",
    "\x00",
    "\x1b[31m",
]
MAX_SAFE_DEPTH = 50  # deeper nesting crashes today: see the xfail tests
tokens = (
    st.sampled_from(HOSTILE_TOKENS)
    | st.text(max_size=40)
    | st.integers(1, MAX_SAFE_DEPTH).map(lambda n: "[" * n + "]" * n)
    | st.integers(1, MAX_SAFE_DEPTH).map(lambda n: "{a: " * n + "1" + "}" * n)
    | st.integers(1, MAX_SAFE_DEPTH).map(lambda n: "[" * n)  # never closed
    | st.sampled_from([10_000, 100_000]).map(lambda n: "x" * n)  # a very long line
)
EXTRA_LINES = [
    "version: 1",  # a duplicate key
    "operations: {}",
    "<<: *ops",
    "  <<: *acme",
    "<<: [*ops, *nope]",
    "\tregion: us-east-1",
    "---",
    "...",
    "%YAML 1.1",
    "? [a, b]\n: c",
    "? {a: 1}\n: c",
    "# " + "é" * 5000,
    "k" * 5000 + ": v",
    "tenants: *acme",
    "x: &ops 1",  # an anchor defined twice
]


@st.composite
def registry_texts(draw: st.DrawFn) -> str:
    """TEMPLATE with hostile slots and lines, or plain random text."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=200))
    slots = dict(VALID_SLOTS)
    for name in draw(st.lists(st.sampled_from(sorted(slots)), max_size=3, unique=True)):
        slots[name] = draw(tokens)
    lines = TEMPLATE.format(**slots).splitlines()
    for _ in range(draw(st.integers(0, 2))):
        where = draw(st.integers(0, len(lines)))
        kind = draw(st.sampled_from(["insert", "duplicate", "tab", "text", "drop"]))
        if kind == "insert":
            lines.insert(where, draw(st.sampled_from(EXTRA_LINES)))
        elif lines and kind == "duplicate":
            lines.insert(where, lines[min(where, len(lines) - 1)])
        elif lines and kind == "tab":
            line = lines[min(where, len(lines) - 1)]
            lines[min(where, len(lines) - 1)] = "\t" + line.lstrip(" ")
        elif kind == "text":
            lines.insert(where, draw(st.text(max_size=60)))
        elif lines:
            del lines[min(where, len(lines) - 1)]
    newline = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    prefix = draw(st.sampled_from(["", "", "\ufeff", "%YAML 1.1\n---\n", "%YAML 1.2\n---\n"]))
    return prefix + newline.join(lines) + newline


def _laughs(levels: int) -> str:
    """A 'billion laughs': each anchor aliases the previous one nine times."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    top = f"*a{levels - 1}"
    lines += [
        f"operations: {{account_id: {top}, region: {top}, inference_profile_regions: {{us: {top}}}}}",
        f"defaults: {{models: {top}}}",
        f"tenants: {top}",
    ]
    return "\n".join(lines) + "\n"


# An anchor defined twice is allowed (the later one wins); ruamel only warns.
@pytest.mark.filterwarnings("ignore::ruamel.yaml.error.ReusedAnchorWarning")
@TEXT
@given(text=registry_texts())
@example(text=VALID_YAML)  # anchors and merge keys, all valid
@example(text=VALID_YAML.replace("    shard: 0\n", "    shard: 0\n    shard: 1\n"))  # duplicate
@example(text=VALID_YAML.replace("  region: us-east-1\n", "\tregion: us-east-1\n", 1))  # a tab
@example(text="operations: &o {account_id: '111111111111', region: us-east-1, x: *o}\n")
@example(text="tenants: &t [*t]\noperations: {account_id: '111111111111', region: us-east-1}\n")
@example(text="a: &a {<<: *a}\n")  # a merge key merging itself
@example(text="x: &o {a: 1}\noperations: {<<: [*o, 1]}\n")  # merging a scalar
@example(text=_laughs(10))  # 9**10 strings if anything expanded the aliases
@example(text="\ufeff" + VALID_YAML)
@example(text="")
@example(text="- just\n- a list\n")
@example(text="operations: !!binary '***'\n")
@example(text="operations: {account_id: 2001-12-14t21:59:43.10-05:00, region: us-east-1}\n")
@example(text="[" * MAX_SAFE_DEPTH + "]" * MAX_SAFE_DEPTH)
@example(text="%YAML 1.1\n---\n" + VALID_YAML.replace('"111111111111"', "0111111111111"))
def test_any_registry_text_is_accepted_usable_or_refused_with_paths(text: str) -> None:
    with _within(20):  # an alias expansion or a parser loop fails here, not hangs
        try:
            data = parse_registry_yaml(text, "registry.yaml")
        except RegistryError as error:
            _assert_refused_with_paths(error)
            hypothesis.event("not YAML")
        else:
            _parse_or_refuse(data)

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "registry.yaml"
            path.write_text(text, encoding="utf-8", newline="")
            try:
                registry = load_registry(path)
            except RegistryError as error:
                _assert_refused_with_paths(error)
                assert error.source == str(path)  # the CLI names the file
            else:
                _assert_usable(registry)


def test_the_anchored_template_is_a_valid_registry() -> None:
    # Guards the generator: without a valid base the text property tests only refusals.
    registry = parse_registry(parse_registry_yaml(VALID_YAML))
    assert [t.id for t in registry.resolved_tenants()] == ["acme", "globex"]
    assert registry.tenant("globex").operations_account_id == "444444444444"
    assert registry.tenant("globex").region == "us-east-1"  # merged from &acme


# --- Inputs that crash today ---------------------------------------------------------------

_NOT_YAML_ERROR = (
    "contracts/registry.py parse_registry_yaml catches only ruamel's YAMLError; "
    "ruamel's constructor raises {exc} for {what}"
)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "version: 2021-02-30\n",
            id="impossible-date",
        ),
        pytest.param(
            "operations: {account_id: '111111111111', region: us-east-1}\n"
            "tenants: [{id: acme, onboarded: 2024-01-01 25:00:00}]\n",
            id="impossible-time",
        ),
        pytest.param(
            "version: " + "1" * 4301 + "\n",
            id="integer-over-4300-digits",
        ),
        pytest.param(
            "version: !!int one\n",
            id="int-tag-on-text",
        ),
        pytest.param(
            "version: !!float one\n",
            id="float-tag-on-text",
        ),
        pytest.param(
            "defaults: {xray_tracing: !!bool maybe}\n",
            id="bool-tag-on-text",
        ),
        pytest.param(
            "[" * 1000 + "]" * 1000,
            id="deeply-nested-flow",
        ),
        pytest.param(
            "".join("  " * i + "a:\n" for i in range(1000)),
            id="deeply-nested-block",
        ),
    ],
)
def test_yaml_the_loader_cannot_construct_is_refused_not_a_traceback(text: str) -> None:
    with pytest.raises(RegistryError) as refused:
        parse_registry_yaml(text, "registry.yaml")
    _assert_refused_with_paths(refused.value)


@pytest.mark.parametrize(
    "content",
    [
        "operations: {account_id: '111111111111', region: us-east-1}\n"
        "tenants: [{id: acme, display_name: Café}]\n".encode("latin-1"),
        "version: 1\n".encode("utf-16"),
    ],
    ids=["latin-1", "utf-16"],
)
def test_a_registry_file_that_is_not_utf8_is_refused_naming_the_file(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "registry.yaml"
    path.write_bytes(content)
    with pytest.raises(RegistryError) as refused:
        load_registry(path)
    _assert_refused_with_paths(refused.value)
    assert refused.value.source == str(path)


@pytest.mark.parametrize("key", ["int", "str", "list", "x[0]"])
def test_an_unknown_key_is_named_even_when_it_looks_like_a_type_label(key: str) -> None:
    with pytest.raises(RegistryError) as refused:
        parse_registry({**VALID, key: 1})
    assert [i.path for i in refused.value.issues] == [key]
