#!/usr/bin/env python3
"""Reports import cycles between the top-level modules of a Rust crate.

Usage: python3 scripts/check-module-cycles.py <crate>/src [<crate>/src ...]

A file `src/x.rs` or anything under a folder `src/x/` belongs to module `x`; `lib.rs`,
`main.rs` and `src/bin/` are crate roots and take no part. Module `a` depends on module `b`
when code in `a` names `crate::b` (in a `use` line, a grouped `use crate::{b, c::D}`, or an
inline path), names an item the crate root imports from `b` (`crate::B` after
`pub use b::B;` in lib.rs), or climbs to the crate root with `super::` and names `b`.

Comments, string literals and test code (`#[cfg(test)]` items and blocks, `mod tests`
files, anything under a `tests/` folder) are ignored: tests may reach anywhere.

Every strongly connected component of more than one module is reported, with the lines
that create its edges, and the exit status is 1. Otherwise one line per directory says
"no module cycles in <dir>" and the exit status is 0. Standard library only.
"""

import os
import re
import sys

ROOT_FILES = ("lib.rs", "main.rs")
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
# `r"…"`, `r#"…"#`, `br"…"`: the group is the hashes that must follow the closing quote.
RAW = re.compile(r'b?r(#*)"')


def strip_code(text):
    """Blanks comments and the contents of string and char literals, keeping line breaks
    (so offsets still map to line numbers) and the code's braces and paths."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "/" and nxt == "/":
            while i < n and text[i] != "\n":
                i += 1
        elif c == "/" and nxt == "*":
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    out.append("\n" if text[i] == "\n" else "")
                    i += 1
        elif c in "br" and RAW.match(text, i) and not _after_ident(text, i):
            m = RAW.match(text, i)
            close = '"' + m.group(1)
            end = text.find(close, m.end())
            end = n if end < 0 else end + len(close)
            out.append('""' + "\n" * text.count("\n", i, end))
            i = end
        elif c == '"':
            i += 1
            newlines = 0
            while i < n and text[i] != '"':
                if text[i] == "\\":
                    i += 1
                if i < n and text[i] == "\n":
                    newlines += 1
                i += 1
            out.append('""' + "\n" * newlines)
            i += 1
        elif c == "'":
            # A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a): only the first
            # is closed by a quote right after its one (possibly escaped) character.
            m = re.match(r"'(\\u\{[0-9A-Fa-f]*\}|\\.|[^\\'\n])'", text[i:])
            if m:
                out.append("' '")
                i += m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _after_ident(text, i):
    """Whether position `i` continues an identifier (`hr"` is not a raw string)."""
    return i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")


def matching_brace(code, open_at):
    """The index just past the `}` matching the `{` at `open_at` (or the end of `code`)."""
    depth = 0
    for j in range(open_at, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(code)


def blank(code, start, end):
    """`code` with `start..end` replaced by spaces (line breaks kept)."""
    middle = "".join("\n" if ch == "\n" else " " for ch in code[start:end])
    return code[:start] + middle + code[end:]


def drop_test_items(code):
    """Blanks each `#[cfg(test)]` item: an inline block, a `mod x;` or a `use …;`.
    Returns the code and the names of `#[cfg(test)] mod x;` declared in other files."""
    test_mods = []
    attr = re.compile(r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]")
    pos = 0
    while True:
        m = attr.search(code, pos)
        if not m:
            return code, test_mods
        # Further attributes (`#[allow(…)]`) may sit between the cfg and the item.
        rest = re.compile(r"(\s*#\s*\[[^\]]*\])*\s*").match(code, m.end()).end()
        decl = re.compile(r"(pub(\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;").match(code, rest)
        if decl:
            test_mods.append(decl.group(3))
            end = decl.end()
        else:
            brace, semi = code.find("{", rest), code.find(";", rest)
            if brace >= 0 and (semi < 0 or brace < semi):
                end = matching_brace(code, brace)
            else:
                end = len(code) if semi < 0 else semi + 1
        code = blank(code, m.start(), end)
        pos = m.start() + 1


def inline_mod_spans(code):
    """The `(start, end)` of each inline `mod x { … }` block (they deepen `super::`)."""
    spans = []
    for m in re.finditer(r"\bmod\s+" + IDENT + r"\s*\{", code):
        open_at = m.end() - 1
        spans.append((open_at, matching_brace(code, open_at)))
    return spans


def split_top(group):
    """Splits the inside of a use group at its top-level commas."""
    parts, depth, cur = [], 0, []
    for ch in group:
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def first_segments(code, at):
    """The first path segment(s) named at `at`: one identifier, or each branch of a
    `{…}` group (`{b, c::D, e::{f, g}}` gives b, c, e)."""
    m = re.compile(r"\s*(" + IDENT + r")").match(code, at)
    if m:
        return [m.group(1)]
    m = re.compile(r"\s*\{").match(code, at)
    if not m:
        return []
    end = matching_brace(code, m.end() - 1)
    names = []
    for branch in split_top(code[m.end() : end - 1]):
        name = re.match(IDENT, branch)
        if name:
            names.append(name.group(0))
    return names


def root_reexports(src, modules):
    """Items the crate root imports from its own modules: `crate::Name` → module."""
    names = {}
    for root in ROOT_FILES:
        path = os.path.join(src, root)
        if not os.path.isfile(path):
            continue
        code, _ = drop_test_items(strip_code(read(path)))
        for m in re.finditer(r"\buse\s+(?:crate\s*::\s*|self\s*::\s*)?(" + IDENT + r")\s*::", code):
            module = m.group(1)
            if module not in modules:
                continue
            end = code.find(";", m.end())
            for leaf in leaves(code[m.end() : end if end >= 0 else len(code)]):
                names.setdefault(leaf, module)
    return names


def leaves(tree):
    """The names a use tree brings into scope (`{B, c::D as E, f::{G}}` gives B, E, G)."""
    tree = tree.strip()
    if tree.endswith("}") and "{" in tree:
        group = tree[tree.index("{") + 1 : -1]
        return [name for part in split_top(group) for name in leaves(part)]
    alias = re.search(r"\bas\s+(" + IDENT + r")\s*$", tree)
    if alias:
        return [alias.group(1)] if alias.group(1) != "_" else []
    last = tree.rsplit("::", 1)[-1].strip()
    return [last] if re.fullmatch(IDENT, last) and last != "self" else []


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def module_files(src):
    """(module, file, module path) for every non-test file outside the crate roots."""
    found = []
    for dirpath, dirnames, filenames in os.walk(src):
        rel_dir = os.path.relpath(dirpath, src)
        parts = [] if rel_dir == "." else rel_dir.split(os.sep)
        if parts[:1] == ["bin"] or "tests" in parts:
            dirnames[:] = []
            continue
        dirnames.sort()
        for name in sorted(filenames):
            if not name.endswith(".rs") or name == "tests.rs":
                continue
            if not parts and name in ROOT_FILES:
                continue
            stem = name[:-3]
            path = parts + ([] if stem == "mod" else [stem])
            found.append((path[0], os.path.join(dirpath, name), path))
    return found


def test_only_paths(src, files):
    """Files declared by `#[cfg(test)] mod x;` (their content is test code)."""
    excluded = set()
    for _, path, modpath in files + [(None, os.path.join(src, r), []) for r in ROOT_FILES]:
        if not os.path.isfile(path):
            continue
        _, test_mods = drop_test_items(strip_code(read(path)))
        base = os.path.join(src, *modpath)
        for name in test_mods:
            excluded.add(os.path.normpath(os.path.join(base, name + ".rs")))
            excluded.add(os.path.normpath(os.path.join(base, name)))
    return excluded


def build_graph(src):
    """Edges between top-level modules: {a: {b: [(file, line, text), …]}}."""
    files = module_files(src)
    modules = {module for module, _, _ in files}
    excluded = test_only_paths(src, files)
    reexports = root_reexports(src, modules)
    graph = {module: {} for module in modules}
    path_re = re.compile(r"(?<![A-Za-z0-9_])(crate|super(?:\s*::\s*super)*)\s*::")
    for module, path, modpath in files:
        norm = os.path.normpath(path)
        if any(norm == e or norm.startswith(e + os.sep) for e in excluded):
            continue
        raw = read(path)
        code, _ = drop_test_items(strip_code(raw))
        spans = inline_mod_spans(code)
        lines = raw.splitlines()
        for m in path_re.finditer(code):
            if m.group(1) != "crate":
                # `super::` climbs from this file's module (and any inline module around
                # it); only a climb to the crate root can name another top-level module.
                depth = len(modpath) + sum(1 for s, e in spans if s < m.start() < e)
                if m.group(1).count("super") != depth:
                    continue
            for name in first_segments(code, m.end()):
                target = name if name in modules else reexports.get(name)
                if target is None or target == module:
                    continue
                line = code.count("\n", 0, m.start())
                text = lines[line].strip() if line < len(lines) else ""
                graph[module].setdefault(target, []).append(
                    (os.path.relpath(path, src), line + 1, text)
                )
    return graph


def strongly_connected(graph):
    """Tarjan's algorithm, iterative; components in a stable order."""
    index, low, on_stack, stack, comps = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.append(member)
                    if member == node:
                        break
                comps.append(sorted(comp))
    return sorted(comps)


def one_cycle(graph, comp):
    """A shortest cycle through the component's first module, as a readable path."""
    members, start = set(comp), comp[0]
    previous, frontier = {start: None}, [start]
    while frontier:
        next_frontier = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while previous[path[-1]] is not None:
                        path.append(previous[path[-1]])
                    return [start] + list(reversed(path))[1:] + [start]
                if child not in previous:
                    previous[child] = node
                    next_frontier.append(child)
        frontier = next_frontier
    return comp


def check(src):
    """Prints the result for one `src` directory; returns whether it has cycles."""
    graph = build_graph(src)
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    if not cycles:
        print(f"no module cycles in {src}")
        return False
    for comp in cycles:
        print(f"{src}: cycle between {len(comp)} modules: {', '.join(comp)}")
        print(f"  e.g. {' -> '.join(one_cycle(graph, comp))}")
        for a in comp:
            for b in sorted(graph[a]):
                if b in comp:
                    file, line, text = graph[a][b][0]
                    more = len(graph[a][b]) - 1
                    also = f" (+{more} more)" if more else ""
                    print(f"  {a} -> {b}: {file}:{line}: {text}{also}")
    return True


def main(argv):
    if len(argv) < 2 or any(a in ("-h", "--help") for a in argv[1:]):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    missing = [d for d in argv[1:] if not os.path.isdir(d)]
    if missing:
        print(f"not a directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    found = [check(src) for src in argv[1:]]
    return 1 if any(found) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
