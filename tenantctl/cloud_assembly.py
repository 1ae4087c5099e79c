"""Several cloud assemblies of one app, each synthesized for a part of its stacks, as one.

A parallel synth runs one ``cdk synth`` per group of stacks, each into its own
directory; ``cdk deploy --app <dir>`` then wants a single assembly. The parts
come from the same app, so they differ only in which stacks they hold: the
merged manifest is the union of their artifacts (a stack, its asset manifest
and the files they name), and the ``asset.*`` entries, named by their content
hash, are taken once. What describes one process's run is dropped: the
construct tree (``tree.json``, which ``cdk deploy``, ``ls``, ``synth --app
<dir>`` and ``diff`` do not read) and reports such as ``performance-counters.json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
# Artifact types that describe the whole app, not a stack: kept from the first part.
_TREE = "cdk:tree"


class AssemblyConflict(ValueError):
    """Two parts hold different files or artifacts under one name."""


def merge(parts: Sequence[Path], out_dir: Path) -> dict[str, Any]:
    """Move the parts' stacks into ``out_dir`` as one assembly; returns its manifest.

    Files move (the parts are the synth's scratch directories on the same file
    system), so merging costs no copy. A stack or file in two parts must be
    the same bytes in both, else AssemblyConflict: the parts were not
    synthesized from one app and registry.
    """
    if not parts:
        raise ValueError("no cloud assembly to merge")
    out_dir.mkdir(parents=True, exist_ok=True)
    merged: dict[str, Any] | None = None
    for part in parts:
        manifest = json.loads((part / MANIFEST).read_text(encoding="utf-8"))
        if merged is None:
            merged = {**manifest, "artifacts": {}}
        elif manifest.get("version") != merged.get("version"):
            raise AssemblyConflict(
                f"{part}: manifest version {manifest.get('version')} is not {merged.get('version')}"
            )
        _merge_artifacts(merged["artifacts"], manifest.get("artifacts", {}), part)
        _merge_missing(merged, manifest)
        kept = _artifact_files(manifest)
        for entry in sorted(part.iterdir()):
            if entry.name in kept or entry.name.startswith("asset."):
                _move(entry, out_dir / entry.name)
    assert merged is not None
    (out_dir / MANIFEST).write_text(json.dumps(merged, indent=2), encoding="utf-8")
    return merged


def _artifact_files(manifest: dict[str, Any]) -> set[str]:
    """The files the manifest's stacks and asset manifests name, and the version marker."""
    files = {"cdk.out"}
    for artifact in manifest.get("artifacts", {}).values():
        if artifact.get("type") == _TREE:
            continue
        properties = artifact.get("properties", {})
        for name in (
            properties.get("templateFile"),
            properties.get("file"),
            artifact.get("additionalMetadataFile"),
        ):
            if name:
                files.add(str(name))
    return files


def _merge_artifacts(into: dict[str, Any], artifacts: dict[str, Any], part: Path) -> None:
    for artifact_id, artifact in artifacts.items():
        if artifact.get("type") == _TREE:
            continue
        if artifact_id in into:
            if into[artifact_id] != artifact:
                raise AssemblyConflict(f"{part}: artifact {artifact_id} differs between parts")
            continue
        into[artifact_id] = artifact


def _merge_missing(into: dict[str, Any], manifest: dict[str, Any]) -> None:
    """Context lookups a part still needs (``missing``), without repeats."""
    missing = manifest.get("missing")
    if not missing:
        return
    known = into.setdefault("missing", [])
    for entry in missing:
        if entry not in known:
            known.append(entry)


def _move(source: Path, target: Path) -> None:
    if not target.exists():
        source.rename(target)
        return
    if source.name.startswith("asset."):
        return  # named by its content's hash: the same asset, already there
    if source.is_dir() or target.is_dir() or source.read_bytes() != target.read_bytes():
        raise AssemblyConflict(f"{source.name}: two parts hold different versions of it")
    source.unlink()


def stack_templates(assembly_dir: Path) -> dict[str, dict[str, Any]]:
    """Every stack's template in an assembly, by stack name."""
    manifest = json.loads((assembly_dir / MANIFEST).read_text(encoding="utf-8"))
    templates: dict[str, dict[str, Any]] = {}
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        properties = artifact.get("properties", {})
        # The manifest names the stack only where it differs from the artifact id.
        name = properties.get("stackName") or artifact_id
        template_file = properties.get("templateFile")
        if name and template_file:
            templates[name] = json.loads((assembly_dir / template_file).read_text(encoding="utf-8"))
    return templates
