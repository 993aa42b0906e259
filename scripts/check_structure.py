#!/usr/bin/env python3
"""Checks the layout rules of src/ that review alone would let slip (issue 20):

- each module imports only from its own group or the groups above it in src/lib.rs;
- no import cycles, between top-level modules or between files of one folder;
- at most 8 modules loose at the root of src/;
- no function longer than 100 lines.

It reads `use` paths and `crate::` paths textually; tests (`#[cfg(test)] mod tests`) are
left out. Exits 1 listing what breaks a rule.
"""
import re
import sys
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
MAX_LOOSE, MAX_FN_LINES = 8, 100


def module_path(path):
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "mod" else parts


def expand(tree):
    """`a::{b, c::{d}}` → [`a::b`, `a::c::d`]."""
    match = re.match(r"^([\w:]*?)\{(.*)\}$", tree.strip(), re.S)
    if not match:
        return [tree.strip()]
    prefix, inner, depth, item, items = match.group(1), match.group(2), 0, "", []
    for ch in inner:
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            items.append(item)
            item = ""
        else:
            item += ch
    items.append(item)
    return [prefix + path for it in items if it.strip() for path in expand(it)]


def imports(path, me):
    """The crate paths a file uses, as module lists from the crate root."""
    text = path.read_text()
    text = re.sub(r"#\[cfg\(test\)\]\s*mod tests.*", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    paths = [p for m in re.finditer(r"\buse\s+([^;]+);", text) for p in expand(m.group(1))]
    paths += re.findall(r"\bcrate::[\w:]+", text)
    for p in paths:
        segments = re.sub(r"\s+as\s+\w+$", "", p).split("::")
        if segments[0] == "crate":
            target = segments[1:]
        elif segments[0] == "super":
            target, up = list(me), segments
            while up and up[0] == "super":
                target, up = target[:-1], up[1:]
            target += up
        elif segments[0] == "self":
            target = list(me) + segments[1:]
        else:
            continue
        yield [s for s in target if re.match(r"^[a-z_0-9]+$", s)]


def layer_groups():
    """lib.rs's `pub mod` lines, grouped by the blank lines between them."""
    groups, current = [], []
    for line in (SRC / "lib.rs").read_text().splitlines():
        match = re.match(r"^pub mod (\w+);", line)
        if match:
            current.append(match.group(1))
        elif not line.strip() and current:
            groups.append(current)
            current = []
    groups.append(current)
    return {module: index for index, group in enumerate(groups) for module in group}


def cycles(edges):
    found, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def long_functions(path):
    lines = path.read_text().split("\n")
    for start, line in enumerate(lines):
        match = re.match(r"^(\s*)(pub(\([^)]*\))?\s+)?(async\s+)?(unsafe\s+)?(const\s+)?fn\s+(\w+)", line)
        if not match or line.rstrip().endswith(";"):
            continue
        closing = match.group(1) + "}"
        end = next((i for i in range(start + 1, len(lines)) if lines[i] == closing), None)
        if end is not None and end - start + 1 > MAX_FN_LINES:
            yield f"{path.relative_to(SRC.parent)}:{start + 1} fn {match.group(7)} is {end - start + 1} lines"


def main():
    layer = layer_groups()
    problems, top_edges, folder_edges = [], defaultdict(set), defaultdict(set)
    for path in sorted(SRC.rglob("*.rs")):
        problems += long_functions(path)
        me = module_path(path)
        if me[0] in ("cli", "main", "lib"):
            continue
        for target in imports(path, me):
            if not target or target[0] not in layer:
                continue
            if target[0] != me[0]:
                top_edges[me[0]].add(target[0])
                if layer[target[0]] > layer[me[0]]:
                    problems.append(f"{path.relative_to(SRC.parent)}: {me[0]} (group {layer[me[0]]}) imports {target[0]} (group {layer[target[0]]}), a later group")
            elif len(me) > 1 and len(target) > 1 and target[1] != me[1]:
                folder_edges[f"{me[0]}::{me[1]}"].add(f"{me[0]}::{target[1]}")
    for cycle in cycles(top_edges) + cycles(folder_edges):
        problems.append("import cycle: " + " → ".join(cycle))
    loose = [p.stem for p in SRC.glob("*.rs") if p.stem not in ("lib", "main")]
    if len(loose) > MAX_LOOSE:
        problems.append(f"{len(loose)} modules loose at the root of src/ (at most {MAX_LOOSE}): {', '.join(sorted(loose))}")
    for problem in problems:
        print(problem)
    print(f"structure: {len(problems)} problems in {sum(1 for _ in SRC.rglob('*.rs'))} files")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
