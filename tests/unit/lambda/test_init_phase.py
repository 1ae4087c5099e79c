"""The handler's init runs without the garbage collector's rescans, and leaves it on."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys

import pytest
from invoker.init_phase import long_lived_init

from tests.support.invoker_fixtures import FUNCTION_ENV
from tests.support.invoker_testkit import INVOKER_DIR, REGION

# Run in a fresh interpreter, as Lambda's init: the handler's import and its
# clients, with the collections the collector starts meanwhile counted.
_COLD_INIT = """
import gc, importlib.util, json, sys
spec = importlib.util.find_spec("handler")
handler = importlib.util.module_from_spec(spec)
# Compiled first: the shipped package has the handler's bytecode.
code = spec.loader.get_code("handler")
sys.modules["handler"] = handler
import typing, invoker.init_phase  # what handler.py imports before its init starts
started = []
gc.callbacks.append(lambda phase, info: phase == "start" and started.append(info["generation"]))
exec(code, handler.__dict__)
print(json.dumps({
    "collections": started,
    "enabled": gc.isenabled(),
    "frozen": gc.get_freeze_count(),
    "tracked": len(gc.get_objects()),
}))
"""


def test_the_handlers_init_starts_no_collection_and_leaves_the_collector_on() -> None:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join([str(INVOKER_DIR), os.getcwd()]),
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        **FUNCTION_ENV,
    }
    done = subprocess.run(
        [sys.executable, "-c", _COLD_INIT],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    init = json.loads(done.stdout.strip().splitlines()[-1])
    # With the collector on, init started a few hundred collections, two of them
    # full. Now only the youngest generation's, once, when the collector is back on
    # (init's objects are frozen by then: it has nothing to scan).
    assert init["collections"] in ([], [0])
    assert init["enabled"] is True
    # What init built is out of the collector's reach: later calls never rescan it.
    assert init["frozen"] > init["tracked"] / 2


def test_a_failed_init_leaves_the_collector_on_and_freezes_nothing() -> None:
    frozen = gc.get_freeze_count()
    with pytest.raises(ValueError), long_lived_init():
        assert not gc.isenabled()
        raise ValueError("a misconfigured function")
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen


def test_a_collector_switched_off_before_init_stays_off() -> None:
    gc.disable()
    try:
        with long_lived_init():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
