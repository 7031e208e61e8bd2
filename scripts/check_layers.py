#!/usr/bin/env python3
"""Checks the shape of src/ that ARCHITECTURE.md states: no import circle
between files, and no import that climbs from a lower layer to a higher one.

Reads every file's imports as the code writes them (`use crate::...`,
`use super::...`, and `crate::a::b` paths inside the code), test modules
(`#[cfg(test)] mod tests { ... }` at a file's end) left out: a test may use
anything. Each import is resolved to the file that defines the module it
names. The layers are read from ARCHITECTURE.md's block between the lines
`layers:` and `end layers`: one layer a line, lowest first, `name: entries`,
each entry a module folder or file of src/ (`space`, `eval/process.rs`,
`main.rs`); a file belongs to the layer of the longest entry that names it
or a folder above it. A file may import files of its own layer or lower.

    python3 scripts/check_layers.py            # exit 1 and the offending imports if any
    python3 scripts/check_layers.py --graph    # also print every file's imports

Standard library only.
"""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SRC = os.path.join(ROOT, "src")


def module_files():
    """{module path tuple: file} for every file of src/ (lib.rs is the crate root ())."""
    out = {}
    for dirpath, _, files in os.walk(SRC):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), SRC)
            parts = rel[:-3].split(os.sep)
            if parts[-1] == "mod":
                parts = parts[:-1]
            if parts in (["lib"], ["main"]):
                parts = [] if parts == ["lib"] else ["<main>"]
            out[tuple(parts)] = rel
    return out


def strip_tests(text):
    """The file without its trailing test module and without comments."""
    m = re.search(r"#\[cfg\(test\)\]\s*(pub(\(crate\))?\s+)?mod\s+\w+\s*\{", text)
    if m:
        text = text[: m.start()]
    text = re.sub(r"//[^\n]*", "", text)
    return text


def use_paths(text):
    """Every path a `use` declaration names, brace groups expanded."""
    paths = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        tree = re.sub(r"\s+as\s+\w+", "", m.group(1))
        paths.extend(expand(re.sub(r"\s+", "", tree)))
    return paths


def expand(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e] (aliases dropped)."""
    i = tree.find("{")
    if i < 0:
        return [tree]
    prefix = tree[:i]
    inner = tree[i + 1 : tree.rfind("}")]
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    if cur:
        parts.append(cur)
    out = []
    for p in parts:
        if p == "self":
            out.append(prefix.rstrip(":"))
        else:
            out.extend(expand(prefix + p))
    return out


def resolve(path, here, modules):
    """The module (tuple) an import path names, from module `here`, or None (outside the crate)."""
    segs = [s for s in path.split("::") if s]
    if not segs:
        return None
    if segs[0] == "crate":
        base, rest = (), segs[1:]
    elif segs[0] == "super":
        base = here
        rest = segs
        while rest and rest[0] == "super":
            base = base[:-1]
            rest = rest[1:]
    elif segs[0] == "self":
        base, rest = here, segs[1:]
    else:
        # a child module of this one named without self:: (`use mlp::Mlp` in a mod.rs)
        if here + (segs[0],) in modules:
            base, rest = here, segs
        else:
            return None
    best = base if base in modules else None
    for k in range(1, len(rest) + 1):
        cand = base + tuple(rest[:k])
        if cand in modules:
            best = cand
    return best


def imports(modules):
    """{file: set of files it imports}."""
    graph = {}
    for mod, rel in modules.items():
        here = mod
        text = strip_tests(open(os.path.join(SRC, rel), encoding="utf-8").read())
        found = set()
        for p in use_paths(text):
            found.add(resolve(p, here, modules))
        for m in re.finditer(r"\b(crate(?:::\w+)+)", text):
            found.add(resolve(m.group(1), here, modules))
        for m in re.finditer(r"(?<![:\w])(super(?:::\w+)+)", text):
            found.add(resolve(m.group(1), here, modules))
        # a module's mod.rs is its header (the types its files share, and their
        # declarations): a file reading an ancestor's header is not an edge
        graph[rel] = {modules[t] for t in found if t is not None and modules[t] != rel and not is_ancestor(t, mod)}
    return graph


def is_ancestor(a, b):
    """Whether module `a` contains module `b` (a strict prefix of its path)."""
    return len(a) < len(b) and b[: len(a)] == a


def circles(graph):
    """The strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def layers():
    """[(layer number, [module or file names])] from ARCHITECTURE.md."""
    text = open(os.path.join(ROOT, "ARCHITECTURE.md"), encoding="utf-8").read()
    m = re.search(r"^layers:\n(.*?)^end layers", text, re.S | re.M)
    if not m:
        sys.exit("ARCHITECTURE.md has no block between `layers:` and `end layers`")
    out = {}
    for n, line in enumerate(l for l in m.group(1).splitlines() if l.strip()):
        names = line.split(":", 1)[1] if ":" in line else line
        for name in names.split():
            out[name.strip(",")] = n
    return out


def layer_of(rel, table):
    """The layer of file `rel`: that of the longest entry naming it or a folder
    above it (`eval/process.rs`, `eval`, `main.rs`), or None."""
    path = rel[:-3] if rel.endswith(".rs") else rel
    parts = path.split(os.sep)
    if parts[-1] == "mod":
        parts = parts[:-1]
    for k in range(len(parts), 0, -1):
        name = "/".join(parts[:k])
        for key in (name, name + ".rs"):
            if key in table:
                return table[key]
    return None


def main():
    modules = module_files()
    graph = imports(modules)
    if "--graph" in sys.argv:
        for f in sorted(graph):
            print(f, "->", ", ".join(sorted(graph[f])))
    bad = 0
    for c in circles(graph):
        bad += 1
        print("import circle:", " <-> ".join(c))
        for f in c:
            print("   ", f, "->", ", ".join(sorted(t for t in graph[f] if t in c)))
    table = layers()
    for f in sorted(graph):
        lf = layer_of(f, table)
        if lf is None:
            bad += 1
            print(f"{f}: its module is in no layer of ARCHITECTURE.md")
            continue
        for t in sorted(graph[f]):
            lt = layer_of(t, table)
            if lt is not None and lt > lf:
                bad += 1
                print(f"climbs: {f} (layer {lf}) imports {t} (layer {lt})")
    if bad:
        print(f"{bad} problems in the shape ARCHITECTURE.md states")
        sys.exit(1)
    print(f"{len(graph)} files: no import circle, no import that climbs a layer")


if __name__ == "__main__":
    main()
