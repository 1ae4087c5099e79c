"""The spool file on a real file system: order, each invocation once, torn lines, a full disk."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from bedrock_tenant_client.usage.spool import Spool


def _record(invocation_id: str) -> dict[str, str]:
    return {"event": "bedrock.invocation", "invocation_id": invocation_id, "user_id": "alice"}


def test_records_are_replayed_in_order_each_invocation_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    for invocation in ("a", "b", "a", "c"):
        assert spool.append(_record(invocation))
    delivered: list[str] = []

    assert spool.replay(lambda record: delivered.append(record["invocation_id"])) == 3
    assert delivered == ["a", "b", "c"]
    assert not spool.path.exists()
    assert spool.replay(lambda record: delivered.append("again")) == 0


def test_a_failed_replay_keeps_the_record_that_failed_and_those_after_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    for invocation in ("a", "b", "c"):
        spool.append(_record(invocation))

    def deliver(record: dict[str, str]) -> None:
        if record["invocation_id"] == "b":
            raise ConnectionError("CloudWatch Logs is still away")

    assert spool.replay(deliver) == 1
    assert [r["invocation_id"] for r in spool.pending()] == ["b", "c"]


def test_a_line_torn_by_a_crash_is_dropped_and_the_rest_replayed(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    spool.append(_record("a"))
    with spool.path.open("a", encoding="utf-8") as file:
        file.write('{"event": "bedrock.invoc')  # the process died mid-append
    delivered: list[str] = []

    assert spool.replay(lambda record: delivered.append(record["invocation_id"])) == 1
    assert delivered == ["a"]
    assert not spool.path.exists()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_a_full_disk_sends_the_record_to_standard_error(tmp_path: Path) -> None:
    # Writes to /dev/full fail with ENOSPC, as on a full disk.
    (tmp_path / "spool.jsonl").symlink_to("/dev/full")
    stderr = io.StringIO()
    spool = Spool(tmp_path / "spool.jsonl", stderr=stderr)

    assert spool.append(_record("a")) is False

    [line] = stderr.getvalue().splitlines()
    assert json.loads(line) == {**_record("a"), "delivery": "stderr"}
