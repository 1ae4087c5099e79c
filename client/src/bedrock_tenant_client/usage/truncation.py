"""Cut a record's content so it fits one log event, never dropping the record."""

from __future__ import annotations

import json

from contracts.usage_record import Record, encode

TRUNCATION_MARKER = "…[truncated]"


def fit_record(record: Record, max_bytes: int) -> Record:
    """Return ``record`` cut to ``max_bytes`` of UTF-8 JSON, never dropping it.

    Every long text (prompt turns, the response, the error message) is capped at
    the same length, the largest that fits, so each keeps its beginning; cut
    texts end with a marker and ``"truncated": true`` says so.
    """
    if _encoded_size(record) <= max_bytes:
        return record
    base: Record = json.loads(json.dumps(record, default=str))
    base["truncated"] = True
    low, high = 0, max((len(text) for text in _texts(base)), default=0)
    best = _capped(base, 0)
    while low <= high:  # binary search for the longest cap that fits
        cap = (low + high) // 2
        candidate = _capped(base, cap)
        if _encoded_size(candidate) <= max_bytes:
            best, low = candidate, cap + 1
        else:
            high = cap - 1
    if _encoded_size(best) > max_bytes:
        # Only metadata left and still too big (cannot happen with validated ids);
        # drop content entirely rather than lose the record.
        best.pop("prompt", None)
        best.pop("response", None)
    return best


def fitted_line(record: Record, max_bytes: int) -> tuple[Record, str]:
    """``record`` as it is written (cut by ``fit_record`` if need be) and its JSON line.

    A record that fits, as nearly all do, is encoded once: the line measured is
    the line written.
    """
    line = encode(record)
    if len(line.encode("utf-8")) <= max_bytes:
        return record, line
    fitted = fit_record(record, max_bytes)
    return fitted, encode(fitted)


def _texts(record: Record) -> list[str]:
    texts = [
        record[key] for key in ("response", "error_message") if isinstance(record.get(key), str)
    ]
    prompt = record.get("prompt")
    if isinstance(prompt, list):
        texts += [
            t["content"]
            for t in prompt
            if isinstance(t, dict) and isinstance(t.get("content"), str)
        ]
    return texts


def _capped(record: Record, cap: int) -> Record:
    def cut(text: str) -> str:
        return text if len(text) <= cap else text[:cap] + TRUNCATION_MARKER

    capped = dict(record)
    for key in ("response", "error_message"):
        if isinstance(capped.get(key), str):
            capped[key] = cut(capped[key])
    prompt = capped.get("prompt")
    if isinstance(prompt, list):
        capped["prompt"] = [
            {**turn, "content": cut(turn["content"])}
            if isinstance(turn, dict) and isinstance(turn.get("content"), str)
            else turn
            for turn in prompt
        ]
    return capped


def _encoded_size(record: Record) -> int:
    return len(encode(record).encode("utf-8"))
