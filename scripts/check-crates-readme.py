#!/usr/bin/env python3
"""crates/README.md's "depends on" column against `cargo metadata`: every crate listed, its
nightshift dependencies (not dev-dependencies) exactly as the table says; and every
[workspace.dependencies] entry used by some crate. Exit 1 with the differences otherwise."""
import json
import re
import subprocess
import sys

meta = json.loads(subprocess.run(
    ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"],
    check=True, capture_output=True, text=True).stdout)
actual = {}
for p in meta["packages"]:
    deps = {d["name"].removeprefix("nightshift-") for d in p["dependencies"]
            if d["name"].startswith("nightshift") and d["kind"] is None}
    actual[p["name"]] = deps

written = {}
for line in open("crates/README.md", encoding="utf-8"):
    m = re.match(r"^\| `(nightshift[a-z-]*)` \|.*\| ([^|]*) \|\s*$", line)
    if m:
        cell = m.group(2).strip()
        deps = set() if cell == "—" else {
            re.sub(r"\s*\(.*\)$", "", d.strip()) for d in cell.split(",")}
        written[m.group(1)] = deps

problems = []
for name in sorted(set(actual) | set(written)):
    if name not in written:
        problems.append(f"{name}: not in crates/README.md's table")
    elif name not in actual:
        problems.append(f"{name}: in crates/README.md but not a workspace crate")
    elif written[name] != actual[name]:
        problems.append(f"{name}: README says {sorted(written[name])}, Cargo.toml has {sorted(actual[name])}")
# Every workspace dependency is used by some crate (cargo-machete checks the crates only).
import tomllib, glob
workspace = tomllib.load(open("Cargo.toml", "rb"))["workspace"]["dependencies"]
used = set()
for manifest in glob.glob("crates/*/Cargo.toml") + ["fuzz/Cargo.toml"]:
    table = tomllib.load(open(manifest, "rb"))
    for section in ("dependencies", "dev-dependencies", "build-dependencies"):
        used |= set(table.get(section, {}))
for name in sorted(set(workspace) - used):
    problems.append(f"Cargo.toml: workspace dependency `{name}` is used by no crate")
if problems:
    print("crates/README.md is out of date:\n  " + "\n  ".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"crates/README.md: {len(actual)} crates, dependencies as Cargo.toml says")
