#!/usr/bin/env python3
"""Every repository path a Markdown file names exists, and no link leaves the repository.

A path is named in a link target, `[text](docs/dbus.md)`, resolved from the file's folder, or in
code quotes, `crates/core/src/vault.rs`, when it starts with one of the repository's top-level
folders or files (resolved from the root, as the docs write them). A `:line` or `#anchor`
suffix is dropped; names with wildcards or placeholders (`*`, `<name>`, `{a,b}`, `...`) are
patterns, not paths, and are left alone. Exits 1 with each missing path and where it is named.
"""
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE = re.compile(r"`([^`\n]+)`")
PATTERN_MARKS = set("*<>{}$|") | {"..."}


def tracked(pattern):
    """The files git knows or would add (tracked, or untracked and not ignored)."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", pattern], cwd=ROOT, check=True, capture_output=True)
    return [p for p in out.stdout.decode().split("\0") if p]


def top_level():
    names = {p.split("/", 1)[0] for p in tracked(".")}
    return {n for n in names if n not in {"README.md"}}


def clean(name):
    name = name.split("#", 1)[0]
    name = re.sub(r":\d+(-\d+)?$", "", name)
    return name.rstrip(".,;:")


def is_pattern(name):
    return any(mark in name for mark in PATTERN_MARKS) or " " in name


def main():
    tops = top_level()
    problems = []
    for doc in tracked("*.md"):
        path = ROOT / doc
        if not path.is_file():
            continue  # deleted in the work tree, not yet in the index
        in_fence = False
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith("```"):
                in_fence = not in_fence
                continue
            where = f"{doc}:{number}"
            for target in LINK.findall(line):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                    continue  # a URL or an anchor in the same file
                name = clean(target)
                if not name or is_pattern(name):
                    continue
                resolved = (path.parent / name).resolve()
                if ROOT not in resolved.parents and resolved != ROOT:
                    problems.append(f"{where}: links outside the repository: {target}")
                elif not resolved.exists():
                    problems.append(f"{where}: links to a missing path: {target}")
            if in_fence:
                continue
            for quoted in CODE.findall(line):
                name = clean(quoted.strip())
                if "/" not in name or is_pattern(name) or name.split("/", 1)[0] not in tops:
                    continue
                if not (ROOT / name).exists():
                    problems.append(f"{where}: names a missing path: {quoted}")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"doc paths: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"doc paths: every path named in {len(tracked('*.md'))} Markdown files exists")
    return 0


if __name__ == "__main__":
    sys.exit(main())
