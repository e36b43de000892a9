#!/usr/bin/env python3
"""Check the workspace's crate dependencies against the layer graph in docs/architecture.md.

docs/architecture.md holds the allowed dependency graph as a fenced block:

    ```layers
    sfbridge-core:
    sfbridge-aws: sfbridge-core
    sfbridge-e2e: *
    ```

one line per workspace crate: its name, a colon, and the workspace crates it may depend on
(space-separated; nothing after the colon: none; `*`: any). Blank lines and `#` comments are
ignored.

The checker reads the workspace from `cargo metadata --format-version 1 --no-deps --offline`
(manifests only: nothing is built or downloaded) and, for every workspace member, checks every
dependency of every kind (normal, dev, build; optional and target-specific ones included) whose
name is a workspace member against that member's line. It fails, exit status 1, when

  - a crate depends on a workspace crate its line does not allow (one line per violation);
  - a workspace crate has no line in the block;
  - the block names a crate (as a line or in an allowed list) that is not in the workspace;
  - the block is missing, appears twice, or has a malformed or duplicate line.

On success it prints one summary line.

`--self-test` checks the checker: it copies the workspace's manifests (every Cargo.toml, plus an
empty stub at each target's source path, which is all `cargo metadata --no-deps` reads; never
target/ or any source) into a temporary directory, requires the check to pass on the copy, then
requires it to fail, with the expected message, on copies broken on purpose:
  - sfbridge-sync gets a path dependency on sfbridge-connect (features never use each other);
  - salesforce-sim gets a dependency on sfbridge-core (the simulator depends on nothing of ours);
  - sfbridge-core gets a dev-dependency on sfbridge-sync (dev and build dependencies count too);
  - the block loses the line of a crate, and names a crate that does not exist.
A broken copy is skipped, and says so, when its crate is not in the workspace (the unbroken
copy must pass in any case). It exits non-zero if any expectation does not hold.

usage: python3 infra/scripts/check_layers.py [--self-test] [--manifest-path PATH] [--doc PATH]
Run from the repository root. PATH for --manifest-path is a Cargo.toml or its directory.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DOC = "docs/architecture.md"
ANY = "*"
KIND_NAMES = {None: "normal", "normal": "normal", "dev": "dev", "build": "build"}
NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")


class CheckError(Exception):
    """The check could not run (cargo failed, the block is unreadable)."""


# --------------------------------------------------------------------------------------- inputs


def cargo_metadata(manifest_path: Path | None) -> dict:
    cmd = ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"]
    if manifest_path is not None:
        cmd += ["--manifest-path", str(manifest_path)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError as e:
        raise CheckError("cargo is not on PATH") from e
    if done.returncode != 0:
        raise CheckError(f"`{' '.join(cmd)}` failed:\n{done.stderr.strip()}")
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError as e:
        raise CheckError(f"cargo metadata printed something that is not JSON: {e}") from e


def resolve_manifest(arg: str | None) -> Path | None:
    if arg is None:
        return None
    path = Path(arg)
    if path.is_dir():
        path = path / "Cargo.toml"
    if not path.is_file():
        raise CheckError(f"--manifest-path: {arg} is neither a Cargo.toml nor a directory holding one")
    return path


@dataclass
class Layers:
    """The parsed ```layers block: crate -> allowed workspace crates (None: any)."""

    allowed: dict[str, list[str] | None]
    line_of: dict[str, int] = field(default_factory=dict)


def parse_layers(text: str, doc: str) -> Layers:
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if re.fullmatch(r"\s*```\s*layers\s*", line)]
    if not starts:
        raise CheckError(f"{doc} has no ```layers block")
    if len(starts) > 1:
        raise CheckError(f"{doc} has {len(starts)} ```layers blocks (lines {', '.join(str(s + 1) for s in starts)}); keep one")
    start = starts[0]
    end = next((i for i in range(start + 1, len(lines)) if lines[i].strip().startswith("```")), None)
    if end is None:
        raise CheckError(f"{doc}: the ```layers block opened on line {start + 1} is never closed")

    layers = Layers(allowed={})
    problems = []
    for number in range(start + 1, end):
        raw = lines[number].split("#", 1)[0].strip()
        if not raw:
            continue
        where = f"{doc}:{number + 1}"
        name, colon, rest = raw.partition(":")
        name = name.strip()
        if not colon or not NAME_RE.match(name):
            problems.append(f"{where}: expected `crate-name: dep dep ...`, found {lines[number].strip()!r}")
            continue
        if name in layers.allowed:
            problems.append(f"{where}: {name} already has a line (line {layers.line_of[name]})")
            continue
        deps = rest.split()
        if ANY in deps:
            if deps != [ANY]:
                problems.append(f"{where}: {name}: `*` means any crate and stands alone")
                continue
            layers.allowed[name] = None
        else:
            bad = [d for d in deps if not NAME_RE.match(d)]
            if bad:
                problems.append(f"{where}: {name}: not a crate name: {' '.join(bad)}")
                continue
            if name in deps:
                problems.append(f"{where}: {name} lists itself")
                continue
            if len(set(deps)) != len(deps):
                problems.append(f"{where}: {name} lists a crate twice")
                continue
            layers.allowed[name] = deps
        layers.line_of[name] = number + 1
    if problems:
        raise CheckError("\n".join(problems))
    if not layers.allowed:
        raise CheckError(f"{doc}: the ```layers block is empty")
    return layers


# ---------------------------------------------------------------------------------------- check


@dataclass
class Result:
    problems: list[str]
    crates: int
    edges: int


def check(metadata: dict, layers: Layers, doc: str) -> Result:
    members = set(metadata.get("workspace_members") or [])
    packages = [p for p in metadata["packages"] if p["id"] in members]
    names = {p["name"] for p in packages}
    problems: list[str] = []

    for name in sorted(names - set(layers.allowed)):
        problems.append(f"{name} is a workspace crate but has no line in the ```layers block of {doc}; add one")
    # Each name the block uses that is not a workspace crate, once, with the lines that use it.
    unknown: dict[str, set[int]] = {}
    for name, allowed in layers.allowed.items():
        for used in {name, *(allowed or [])}:
            if used not in names:
                unknown.setdefault(used, set()).add(layers.line_of[name])
    for name, at in sorted(unknown.items(), key=lambda item: (min(item[1]), item[0])):
        lines = ",".join(str(n) for n in sorted(at))
        problems.append(f"{doc}:{lines} names {name}, which is not a crate of this workspace")

    edges: set[tuple[str, str, str]] = set()
    for package in sorted(packages, key=lambda p: p["name"]):
        for dep in package.get("dependencies", []):
            target = dep["name"]  # the package name, even when renamed in the manifest
            if target not in names or target == package["name"]:
                continue
            edges.add((package["name"], target, KIND_NAMES.get(dep.get("kind"), str(dep.get("kind")))))

    for source, target, kind in sorted(edges):
        if source not in layers.allowed:
            continue  # already reported as missing its line
        allowed = layers.allowed[source]
        if allowed is None or target in allowed:
            continue
        shown = " ".join(allowed) if allowed else "none"
        problems.append(f"{source} depends on {target} ({kind}), which {doc} does not allow (allowed: {shown})")
    return Result(problems=problems, crates=len(names), edges=len(edges))


def run_check(manifest_path: Path | None, doc_path: Path, doc_label: str) -> Result:
    try:
        text = doc_path.read_text(encoding="utf-8")
    except OSError as e:
        raise CheckError(f"cannot read {doc_label}: {e}") from e
    layers = parse_layers(text, doc_label)
    return check(cargo_metadata(manifest_path), layers, doc_label)


def report(result: Result, doc_label: str) -> int:
    if result.problems:
        for line in result.problems:
            print(line)
        print(f"check_layers: {len(result.problems)} problem(s); the graph is in {doc_label} (```layers block)", file=sys.stderr)
        return 1
    print(f"check_layers: ok: {result.crates} crates, {result.edges} internal edges checked against {doc_label}")
    return 0


# ------------------------------------------------------------------------------------ self-test


def copy_manifests(metadata: dict, dest: Path) -> dict[str, Path]:
    """Copies the root manifest, every member's manifest and an empty file at each target's
    source path. Returns each member's directory in the copy, by crate name."""
    root = Path(metadata["workspace_root"]).resolve()
    shutil.copyfile(root / "Cargo.toml", dest / "Cargo.toml")
    members = set(metadata["workspace_members"])
    dirs: dict[str, Path] = {}
    for package in metadata["packages"]:
        if package["id"] not in members:
            continue
        manifest = Path(package["manifest_path"]).resolve()
        try:
            rel = manifest.parent.relative_to(root)
        except ValueError as e:
            raise CheckError(f"{package['name']} lives outside the workspace root ({manifest}); the self-test cannot copy it") from e
        (dest / rel).mkdir(parents=True, exist_ok=True)
        if rel != Path("."):
            shutil.copyfile(manifest, dest / rel / "Cargo.toml")
        for target in package.get("targets", []):
            src = Path(target["src_path"]).resolve()
            try:
                src_rel = src.relative_to(root)
            except ValueError:
                continue  # a target outside the root: cargo finds it wherever the manifest says
            stub = dest / src_rel
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.touch()
        dirs[package["name"]] = dest / rel
    return dirs


def add_dependency(copy_root: Path, dirs: dict[str, Path], crate: str, dep: str, section: str) -> None:
    """Adds `dep` to `crate`'s `[section]` in the copy: `dep.workspace = true` when the root's
    [workspace.dependencies] has it (as the workspace's manifests do), else a path dependency;
    a missing [workspace.dependencies] entry is added first."""
    root_manifest = copy_root / "Cargo.toml"
    root_text = root_manifest.read_text(encoding="utf-8")
    workspace_deps = tomllib.loads(root_text).get("workspace", {}).get("dependencies", {})
    if dep not in workspace_deps:
        rel = os.path.relpath(dirs[dep], copy_root).replace(os.sep, "/")
        root_text = insert_into_table(root_text, "workspace.dependencies", f'{dep} = {{ path = "{rel}" }}')
        root_manifest.write_text(root_text, encoding="utf-8")
    manifest = dirs[crate] / "Cargo.toml"
    text = insert_into_table(manifest.read_text(encoding="utf-8"), section, f"{dep}.workspace = true")
    manifest.write_text(text, encoding="utf-8")
    parsed = tomllib.loads(text)  # the mutation must still be valid TOML with the entry in place
    if dep not in parsed.get(section, {}):
        raise CheckError(f"self-test: could not add {dep} to [{section}] of {crate}'s copied manifest")


def insert_into_table(text: str, table: str, line: str) -> str:
    """Puts `line` right under the `[table]` header, or appends the table when there is none."""
    header = re.compile(r"^\s*\[\s*" + re.escape(table).replace(r"\.", r"\s*\.\s*") + r"\s*\]\s*(#.*)?$")
    lines = text.splitlines()
    for i, existing in enumerate(lines):
        if header.match(existing):
            lines.insert(i + 1, line)
            return "\n".join(lines) + "\n"
    return text.rstrip("\n") + f"\n\n[{table}]\n{line}\n"


@dataclass
class Case:
    title: str
    crates: tuple[str, ...]
    expect: str  # a line of the output must start with this
    mutate_workspace: tuple[str, str, str] | None = None  # (crate, dep, section)
    mutate_doc: object = None  # callable(text) -> text


def block_range(text: str) -> tuple[list[str], int, int]:
    """The document's lines and the (start, end) indexes of the ```layers fences."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"\s*```\s*layers\s*", line))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].strip().startswith("```"))
    return lines, start, end


def drop_line(crate: str):
    def mutate(text: str) -> str:
        lines, start, end = block_range(text)
        kept = [l for i, l in enumerate(lines) if not (start < i < end and l.split(":", 1)[0].strip() == crate)]
        return "\n".join(kept) + "\n"

    return mutate


def add_line(line: str):
    """Adds `line` as the block's first line."""

    def mutate(text: str) -> str:
        lines, start, _ = block_range(text)
        lines.insert(start + 1, line)
        return "\n".join(lines) + "\n"

    return mutate


def self_test(manifest_path: Path | None, doc_path: Path, doc_label: str) -> int:
    try:
        doc_text = doc_path.read_text(encoding="utf-8")
    except OSError as e:
        raise CheckError(f"cannot read {doc_label}: {e}") from e
    metadata = cargo_metadata(manifest_path)
    failures = 0

    def expect(ok: bool, what: str) -> None:
        nonlocal failures
        print(f"  {'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            failures += 1

    cases = [
        Case(
            "sfbridge-sync gets a path dependency on sfbridge-connect",
            ("sfbridge-sync", "sfbridge-connect"),
            f"sfbridge-sync depends on sfbridge-connect (normal), which {doc_label} does not allow",
            mutate_workspace=("sfbridge-sync", "sfbridge-connect", "dependencies"),
        ),
        Case(
            "salesforce-sim gets a dependency on sfbridge-core",
            ("salesforce-sim", "sfbridge-core"),
            f"salesforce-sim depends on sfbridge-core (normal), which {doc_label} does not allow (allowed: none)",
            mutate_workspace=("salesforce-sim", "sfbridge-core", "dependencies"),
        ),
        Case(
            "sfbridge-core gets a dev-dependency on sfbridge-sync",
            ("sfbridge-core", "sfbridge-sync"),
            f"sfbridge-core depends on sfbridge-sync (dev), which {doc_label} does not allow",
            mutate_workspace=("sfbridge-core", "sfbridge-sync", "dev-dependencies"),
        ),
        Case(
            "the block loses sfbridge-inbound's line",
            ("sfbridge-inbound",),
            "sfbridge-inbound is a workspace crate but has no line",
            mutate_doc=drop_line("sfbridge-inbound"),
        ),
        Case(
            "the block names a crate that does not exist",
            (),
            "",  # filled below: the line number depends on the document
            mutate_doc=add_line("sfbridge-nonexistent: sfbridge-core"),
        ),
    ]

    with tempfile.TemporaryDirectory(prefix="check_layers.") as tmp:
        tmp_path = Path(tmp)
        baseline = tmp_path / "baseline"
        baseline.mkdir()
        dirs = copy_manifests(metadata, baseline)
        print(f"self-test: {len(dirs)} crates' manifests copied to a scratch workspace")
        copied_doc = tmp_path / "architecture.md"
        copied_doc.write_text(doc_text, encoding="utf-8")
        result = run_check(baseline / "Cargo.toml", copied_doc, doc_label)
        expect(not result.problems, f"the unchanged copy passes ({result.crates} crates, {result.edges} internal edges)")
        for line in result.problems:
            print(f"       {line}")

        for n, case in enumerate(cases):
            missing = [c for c in case.crates if c not in dirs]
            if missing:
                print(f"  skip {case.title}: not in this workspace: {' '.join(missing)}")
                continue
            work = tmp_path / f"case{n}"
            shutil.copytree(baseline, work)
            case_dirs = {name: work / d.relative_to(baseline) for name, d in dirs.items()}
            case_doc = tmp_path / f"case{n}.md"
            text = doc_text
            if case.mutate_doc is not None:
                text = case.mutate_doc(text)
            case_doc.write_text(text, encoding="utf-8")
            if case.mutate_workspace is not None:
                crate, dep, section = case.mutate_workspace
                add_dependency(work, case_dirs, crate, dep, section)
            expected = case.expect
            if not expected:  # the added line is the block's first line
                _, start, _ = block_range(text)
                expected = f"{doc_label}:{start + 2} names sfbridge-nonexistent, which is not a crate of this workspace"
            try:
                got = run_check(work / "Cargo.toml", case_doc, doc_label)
            except CheckError as e:
                expect(False, f"{case.title}: the check could not run: {e}")
                continue
            hit = any(line.startswith(expected) for line in got.problems)
            expect(bool(got.problems) and hit, f"{case.title}: fails with {expected!r}")
            if not hit:
                for line in got.problems or ["(no problem reported)"]:
                    print(f"       got: {line}")

    if failures:
        print(f"self-test: {failures} expectation(s) failed", file=sys.stderr)
        return 1
    print("self-test: ok")
    return 0


# ----------------------------------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--self-test", action="store_true", help="check the checker on broken copies of the workspace's manifests")
    parser.add_argument("--manifest-path", help="the workspace's Cargo.toml or its directory (default: cargo's, from the current directory)")
    parser.add_argument("--doc", default=DEFAULT_DOC, help=f"the document with the ```layers block (default: {DEFAULT_DOC})")
    args = parser.parse_args(argv)
    doc_path = Path(args.doc)
    try:
        manifest = resolve_manifest(args.manifest_path)
        if args.self_test:
            return self_test(manifest, doc_path, args.doc)
        return report(run_check(manifest, doc_path, args.doc), args.doc)
    except CheckError as e:
        print(f"check_layers: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
