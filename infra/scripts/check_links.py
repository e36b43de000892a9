#!/usr/bin/env python3
"""Fails on a broken relative link or anchor in the repository's Markdown.

Every tracked `*.md` file (git ls-files) is parsed with markdown-it-py, a CommonMark parser, so
links in code blocks and inline code are not links, and reference-style links count like inline
ones. For each link that is not absolute (`https:`, `mailto:` ...):
  - the path, relative to the file, must exist in the working tree (a file or a folder);
  - an anchor (`#part`) must name a heading of the target Markdown file, as GitHub renders its id
    (lowercase, punctuation dropped, spaces to hyphens, `-1`, `-2` ... for repeats).
There is no well-kept offline checker for this on the registries the tests reach (lychee, the
Rust one, is not on PyPI and would add minutes of compiling to every run), so the rule is here
and the Markdown parsing is markdown-it-py's.

usage: check_links.py [--self-test]
"""

import os
import re
import subprocess
import sys
import tempfile
from urllib.parse import unquote

from markdown_it import MarkdownIt

PARSER = MarkdownIt("commonmark")


def github_anchor(text, seen):
    """The id GitHub gives a heading with this text (seen: the ids so far in that file)."""
    slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    return slug if count == 0 else f"{slug}-{count}"


def inline_text(token):
    """A heading's text as rendered: code spans and link texts included, markup dropped."""
    return "".join(child.content for child in token.children or [] if child.type in ("text", "code_inline"))


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def anchors_of(path, cache):
    if path not in cache:
        tokens = PARSER.parse(read(path))
        seen = {}
        cache[path] = {github_anchor(inline_text(tokens[i + 1]), seen) for i, t in enumerate(tokens) if t.type == "heading_open"}
    return cache[path]


def links_of(path):
    """(line, target) for every link and image in the file."""
    found = []
    for token in PARSER.parse(read(path)):
        line = token.map[0] + 1 if token.map else 0
        for child in token.children or []:
            target = child.attrGet("href") if child.type == "link_open" else child.attrGet("src") if child.type == "image" else None
            if target is not None:
                found.append((line, target))
    return found


def check(root, files):
    problems = []
    cache = {}
    for name in files:
        path = os.path.join(root, name)
        for line, target in links_of(path):
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("//"):
                continue
            file_part, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(os.path.dirname(path), unquote(file_part))) if file_part else path
            where = f"{name}:{line}: [{target}]"
            if not os.path.exists(resolved):
                problems.append(f"{where}: {os.path.relpath(resolved, root)} does not exist")
            elif anchor and resolved.endswith(".md") and unquote(anchor) not in anchors_of(resolved, cache):
                problems.append(f"{where}: {os.path.relpath(resolved, root)} has no heading with the anchor #{anchor}")
    return problems


def markdown_files(root):
    listed = subprocess.run(["git", "-C", root, "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
                            check=True, capture_output=True, text=True).stdout.split()
    return sorted(f for f in listed if "node_modules/" not in f and os.path.exists(os.path.join(root, f)))


def self_test():
    """The check must fail on a missing file and on a missing anchor, and pass on good links."""
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "docs"))
        with open(os.path.join(root, "docs", "a.md"), "w") as f:
            f.write("# Title\n\n## Run it (one command)\n\n## Run it (one command)\n\n`[not a link](gone.md)`\n")
        with open(os.path.join(root, "README.md"), "w") as f:
            f.write("[ok](docs/a.md#run-it-one-command) [ok](docs/a.md#run-it-one-command-1) [dir](docs/) [web](https://x.test/y)\n"
                    "[missing file](docs/b.md)\n[missing anchor](docs/a.md#run-it)\n\n```\n[in code](nowhere.md)\n```\n")
        problems = check(root, ["README.md", "docs/a.md"])
        expected = ["docs/b.md does not exist", "has no heading with the anchor #run-it"]
        ok = len(problems) == 2 and all(any(e in p for p in problems) for e in expected)
        print("\n".join(problems))
        print("check_links self-test:", "OK (2 broken links caught, none invented)" if ok else "FAILED")
        return ok


def main():
    if sys.argv[1:] == ["--self-test"]:
        return 0 if self_test() else 1
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    files = markdown_files(root)
    problems = check(root, files)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"check_links: {len(problems)} broken relative link(s) or anchor(s) in {len(files)} Markdown files", file=sys.stderr)
        return 1
    print(f"check_links: every relative link and anchor in {len(files)} Markdown files resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
