"""Concurrent and interrupted registry edits, with real processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from contracts.registry import load_registry
from tests.conftest import EXAMPLE_REGISTRY, ROOT

TRIALS = 6
AT_ONCE = 4


def _onboard(registry: Path, tenant: str, account: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tenantctl", "--registry", str(registry), "onboard", tenant,
         "--account", str(account), "--region", "us-east-1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


def test_concurrent_onboards_never_lose_a_tenant(tmp_path: Path) -> None:
    onboarded = 0
    for trial in range(TRIALS):
        registry = tmp_path / f"trial-{trial}.yaml"
        shutil.copy(EXAMPLE_REGISTRY, registry)
        ids = [f"t{trial}x{n}" for n in range(AT_ONCE)]
        processes = [
            _onboard(registry, tenant, 400000000000 + 100 * trial + n)
            for n, tenant in enumerate(ids)
        ]
        for process, tenant in zip(processes, ids, strict=True):
            _, stderr = process.communicate(timeout=120)
            assert process.returncode == 0, (tenant, stderr)
        present = {t.id for t in load_registry(registry).tenants}
        assert set(ids) <= present, f"trial {trial}: lost {set(ids) - present}"
        onboarded += len(ids)
        assert not list(tmp_path.glob(".*.tmp"))
    assert onboarded == TRIALS * AT_ONCE


DRIVER = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, {root!r})
    from tenantctl import registry_file

    real_fsync = os.fsync
    def slow_fsync(fd):
        print("writing", flush=True)
        time.sleep(1.5)  # the signal arrives while the temporary copy exists
        real_fsync(fd)
    registry_file.os.fsync = slow_fsync
    path = sys.argv[1]
    registry_file.write_atomic(path, open(path).read() + "# new\\n")
    """
)


def test_a_write_killed_midway_leaves_no_copy_and_a_whole_file(tmp_path: Path) -> None:
    registry = tmp_path / "tenants.yaml"
    shutil.copy(EXAMPLE_REGISTRY, registry)
    before = registry.read_text()
    for sig in (signal.SIGTERM, signal.SIGINT):
        writer = subprocess.Popen(
            [sys.executable, "-c", DRIVER.format(root=str(ROOT)), str(registry)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "writing"
        time.sleep(0.2)
        writer.send_signal(sig)
        writer.wait(timeout=30)
        assert writer.returncode != 0  # the signal still stopped it, once the file was whole
        assert not list(tmp_path.glob(".*.tmp")), sig
        assert registry.read_text() in {before, before + "# new\n"}
        before = registry.read_text()


def test_a_copy_left_by_a_killed_writer_is_removed_by_the_next_edit(tmp_path: Path) -> None:
    registry = tmp_path / "tenants.yaml"
    shutil.copy(EXAMPLE_REGISTRY, registry)
    leftover = tmp_path / ".tenants.yaml.abc123.tmp"
    leftover.write_text(registry.read_text())  # what SIGKILL or a power cut leaves

    process = _onboard(registry, "initech", 444444444444)
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 0, stderr
    assert not leftover.exists()
