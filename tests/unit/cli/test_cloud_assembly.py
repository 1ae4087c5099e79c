"""Merging the cloud assemblies of a parallel synth into the one ``cdk deploy`` reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tenantctl import cloud_assembly

VERSION = "55.0.0"


def _part(root: Path, name: str, stacks: list[str], asset: str = "abc") -> Path:
    """An assembly as ``cdk synth`` writes it: per stack its template, assets and
    metadata files and two artifacts, one shared code asset, the tree, the marker."""
    part = root / name
    (part / f"asset.{asset}").mkdir(parents=True)
    (part / f"asset.{asset}" / "handler.py").write_text("def handler(e, c): ...\n")
    artifacts: dict[str, Any] = {}
    for stack in stacks:
        (part / f"{stack}.template.json").write_text(json.dumps({"Resources": {stack: {}}}))
        (part / f"{stack}.assets.json").write_text(json.dumps({"files": {asset: {}}}))
        (part / f"{stack}.metadata.json").write_text("{}")
        artifacts[f"{stack}.assets"] = {
            "type": "cdk:asset-manifest",
            "properties": {"file": f"{stack}.assets.json"},
        }
        artifacts[stack] = {
            "type": "aws:cloudformation:stack",
            "environment": "aws://111111111111/us-east-1",
            "properties": {"templateFile": f"{stack}.template.json"},
            "dependencies": [f"{stack}.assets"],
            "additionalMetadataFile": f"{stack}.metadata.json",
        }
    artifacts["Tree"] = {"type": "cdk:tree", "properties": {"file": "tree.json"}}
    (part / "tree.json").write_text(json.dumps({"tree": {"children": stacks}}))
    (part / "cdk.out").write_text(json.dumps({"version": VERSION}))
    # A report of this process's run (the CLI writes one when it measures itself).
    (part / "performance-counters.json").write_text(json.dumps({"part": name}))
    (part / "manifest.json").write_text(
        json.dumps({"version": VERSION, "artifacts": artifacts, "minimumCliVersion": "2.1"})
    )
    return part


def test_merged_manifest_holds_every_stack_with_its_asset_manifest_and_files(
    tmp_path: Path,
) -> None:
    parts = [
        _part(tmp_path, "a", ["BedrockOperations", "BedrockCustomer-aa"]),
        _part(tmp_path, "b", ["BedrockCustomer-bb"]),
    ]
    merged = cloud_assembly.merge(parts, tmp_path / "out")

    out = tmp_path / "out"
    written = json.loads((out / "manifest.json").read_text())
    assert written == merged
    assert written["version"] == VERSION and written["minimumCliVersion"] == "2.1"
    stacks = ["BedrockOperations", "BedrockCustomer-aa", "BedrockCustomer-bb"]
    assert list(written["artifacts"]) == [n for s in stacks for n in (f"{s}.assets", s)]
    assert written["artifacts"]["BedrockCustomer-bb"]["dependencies"] == [
        "BedrockCustomer-bb.assets"
    ]
    for stack in stacks:
        for suffix in ("template.json", "assets.json", "metadata.json"):
            assert (out / f"{stack}.{suffix}").is_file()
    assert set(cloud_assembly.stack_templates(out)) == set(stacks)
    # The shared asset once; the construct tree is not needed to deploy.
    assert [p.name for p in out.glob("asset.*")] == ["asset.abc"]
    assert (out / "asset.abc" / "handler.py").is_file()
    assert not (out / "tree.json").exists()
    assert not (out / "performance-counters.json").exists()
    assert json.loads((out / "cdk.out").read_text()) == {"version": VERSION}


def test_a_stack_synthesized_differently_by_two_parts_is_refused(tmp_path: Path) -> None:
    first = _part(tmp_path, "a", ["BedrockCustomer-aa"])
    second = _part(tmp_path, "b", ["BedrockCustomer-aa"])
    (second / "BedrockCustomer-aa.template.json").write_text('{"Resources": {}}')
    with pytest.raises(cloud_assembly.AssemblyConflict, match="BedrockCustomer-aa"):
        cloud_assembly.merge([first, second], tmp_path / "out")


def test_parts_of_different_cdk_versions_are_refused(tmp_path: Path) -> None:
    first = _part(tmp_path, "a", ["BedrockCustomer-aa"])
    second = _part(tmp_path, "b", ["BedrockCustomer-bb"])
    manifest = json.loads((second / "manifest.json").read_text())
    (second / "manifest.json").write_text(json.dumps({**manifest, "version": "54.0.0"}))
    with pytest.raises(cloud_assembly.AssemblyConflict, match=r"version 54\.0\.0"):
        cloud_assembly.merge([first, second], tmp_path / "out")
