#!/usr/bin/env bash
# Checks the crate's layers (issue 12): a lower layer must not import a higher one.
#
#   scripts/check-layers.sh [--strict-files] [SRC]
#
# SRC is the source tree (default: src/ at the repository root). A module is a top-level folder
# SRC/NAME/ or file SRC/NAME.rs; every file under SRC/NAME/ belongs to NAME. Modules not in the
# table are unconstrained. An import is any path into the crate: `use crate::x::..` (also
# `pub use`, `pub(crate) use`, grouped and multi-line `use crate::{x::A, y}`), an inline path
# such as `crate::x::foo()`, a `super::` path that leaves the module, or a path in an
# attribute's string (`#[serde(with = "crate::x::y")]`). Comments and other string literals are
# ignored; `#[cfg(test)]` code is checked like any other.
#
# A second check reports circles between the files of one folder (A imports B and B imports A,
# through `super::`, `crate::same::` or the folder's `mod.rs` re-exports). They are warnings,
# errors only with --strict-files.
#
# Exit status: 0 clean, 1 violations, 2 usage error.
set -euo pipefail

# ---------------------------------------------------------------------------------------------
# The layers. One line per constrained module: the module, then what it must not import.
# `*` means it imports nothing of tollgate: no `crate::` path at all.
RULES='
proxy      aws profile store report pricing findings record cli summary endpoint
endpoint   profile store report pricing findings cli gate metrics
aws        pricing store profile report findings cli proxy
store      profile proxy report findings cli summary
record     *
pricing    store profile report findings cli proxy
findings   report cli proxy profile
report     cli proxy profile
gate       cli proxy profile
ca         aws profile store report pricing findings cli
metrics    aws store report pricing findings cli gate
'
# ---------------------------------------------------------------------------------------------

root="$(cd "$(dirname "$0")/.." && pwd)"
strict=0
src=""
for arg in "$@"; do
    case "$arg" in
        --strict-files) strict=1 ;;
        -h | --help)
            # The comment at the top of this file.
            awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
            exit 0
            ;;
        -*)
            echo "check-layers: unknown option $arg (usage: $0 [--strict-files] [SRC])" >&2
            exit 2
            ;;
        *)
            if [ -n "$src" ]; then
                echo "check-layers: one source tree only (usage: $0 [--strict-files] [SRC])" >&2
                exit 2
            fi
            src="$arg"
            ;;
    esac
done
if [ -z "$src" ]; then
    src="$root/src"
    # Shown relative to the repository root when run from there.
    [ "$PWD" = "$root" ] && src="src"
fi
if [ ! -d "$src" ]; then
    echo "check-layers: $src is not a directory" >&2
    exit 2
fi
if ! command -v python3 >/dev/null; then
    echo "check-layers: needs python3 (the standard library only)" >&2
    exit 2
fi

CHECK_LAYERS_RULES="$RULES" CHECK_LAYERS_STRICT="$strict" exec python3 - "$src" <<'PYTHON'
import bisect
import os
import re
import sys

SRC = sys.argv[1]
STRICT = os.environ["CHECK_LAYERS_STRICT"] == "1"

ALL = "*"
RULES = {}
for line in os.environ["CHECK_LAYERS_RULES"].strip().splitlines():
    words = line.split()
    if words:
        RULES[words[0]] = set(words[1:])


# --- Source text: comments, strings and char literals blanked out, offsets and lines kept. ----

def blank(text):
    """The text with comments, string, byte-string and char literals replaced by spaces
    (newlines kept), so that offsets and line numbers still match the file; and the
    (offset, contents) of each plain string literal."""
    out = list(text)
    strings = []
    n = len(text)
    i = 0

    def clear(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    def ident_char(c):
        return c.isalnum() or c == "_"

    while i < n:
        c = text[i]
        if c == "/" and text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            clear(i, j)
            i = j
        elif c == "/" and text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            clear(i, j)
            i = j
        elif c in "rbc" and (i == 0 or not ident_char(text[i - 1])) and re.match(
            r'(?:r|br|cr)#*"', text[i:i + 260]
        ):
            m = re.match(r'(?:r|br|cr)(#*)"', text[i:])
            end = text.find('"' + m.group(1), i + m.end())
            j = n if end < 0 else end + 1 + len(m.group(1))
            clear(i, j)
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            strings.append((i, text[i + 1:j]))
            clear(i, j + 1)
            i = j + 1
        elif c == "'":
            # A char literal ('x', '\n', '\u{7f}', '{'), or a lifetime or label ('a, 'static).
            if text.startswith("\\", i + 1):
                j = i + 3  # past the backslash and the escaped character ('\'', '\\')
                while j < n and text[j] != "'" and text[j] != "\n":
                    j += 1
                clear(i, j + 1)
                i = j + 1
            elif i + 2 < n and text[i + 2] == "'":
                clear(i, i + 3)
                i += 3
            else:
                i += 1
        else:
            i += 1
    return "".join(out), strings


class Source:
    def __init__(self, path, rel):
        self.path = path          # as shown in messages
        self.rel = rel            # relative to SRC, with '/'
        with open(path, encoding="utf-8", errors="replace") as f:
            self.text = f.read()
        self.code, self.strings = blank(self.text)
        self.newlines = [k for k, ch in enumerate(self.text) if ch == "\n"]
        self.lines = self.text.splitlines()
        self.module = module_path(rel)
        self.inline_mods = inline_mods(self.code)

    def line_of(self, offset):
        return bisect.bisect_left(self.newlines, offset) + 1

    def scope_at(self, offset):
        """The module path at `offset`: the file's, plus any inline `mod x { .. }` around it."""
        inner = [name for (a, b, name, _) in self.inline_mods if a < offset < b]
        return self.module + inner

    def in_test_code(self, offset):
        """Inside a `#[cfg(test)] mod x { .. }`."""
        return any(test and a < offset < b for (a, b, _, test) in self.inline_mods)


def module_path(rel):
    """src/a/b.rs -> [a, b]; src/a/mod.rs -> [a]; src/lib.rs and src/main.rs -> [] (roots)."""
    parts = rel[:-3].split("/")
    if len(parts) == 1 and parts[0] in ("lib", "main"):
        return []
    if parts[-1] == "mod":
        parts = parts[:-1]
    return parts


MOD_OPEN = re.compile(r"\bmod\s+(?:r#)?([A-Za-z_]\w*)\s*\{")
CFG_TEST_BEFORE = re.compile(
    r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\s*\([^()]*\))?\s+)?$"
)


def inline_mods(code):
    """(open, close, name, is_test) of every inline `mod name { .. }`."""
    named = {}
    for m in MOD_OPEN.finditer(code):
        is_test = bool(CFG_TEST_BEFORE.search(code[max(0, m.start() - 300):m.start()]))
        named[m.end() - 1] = (m.group(1), is_test)
    spans, stack = [], []
    for k, ch in enumerate(code):
        if ch == "{":
            stack.append((k, named.get(k)))
        elif ch == "}" and stack:
            start, mod = stack.pop()
            if mod:
                spans.append((start, k) + mod)
    return sorted(spans)


# --- Paths into the crate. ---------------------------------------------------------------------

class Ref:
    """One path into the crate, resolved from the crate root."""

    def __init__(self, source, offset, shown, target, via_crate, glob):
        self.source = source
        self.offset = offset      # where the path names what it reaches (for the line)
        self.shown = shown        # the path as written, `crate::aws::Foo`
        self.target = target      # the path from the crate root, ['aws', 'Foo']
        self.via_crate = via_crate
        self.glob = glob          # ends in `*`

    @property
    def line(self):
        return self.source.line_of(self.offset)

    @property
    def in_tests(self):
        return self.source.in_test_code(self.offset)


def resolve(source, offset, segments):
    """Segments as written (`crate`, `super`, `self`, names) -> (path from the root, via_crate),
    or None when the path does not start in this crate (an external crate, a local name)."""
    if not segments:
        return None
    head = segments[0]
    if head in ("crate", "$crate"):
        return segments[1:], True
    if head not in ("super", "self"):
        return None
    scope = source.scope_at(offset)
    # At the top of lib.rs or main.rs `self` is the root; `super` above the root is invalid.
    k = 0
    while k < len(segments) and segments[k] in ("super", "self"):
        if segments[k] == "super":
            if not scope:
                return None
            scope = scope[:-1]
        k += 1
    return scope + segments[k:], False


USE = re.compile(r"(?<![\w#$])use\b")
TOKEN = re.compile(r"\$?[A-Za-z_]\w*|::|[{},*;]|\S")


PUB_BEFORE = re.compile(r"\bpub\s*(?:\([^()]*\))?\s*$")


def use_decls(source):
    """Every `use` declaration: (start, end, is_pub, leaves), each leaf a list of
    (segment, offset); a glob leaf ends in `*`."""
    code = source.code
    decls = []
    for m in USE.finditer(code):
        if code[m.end():m.end() + 200].lstrip().startswith("<"):
            continue  # `impl Trait + use<'a>`, not a declaration
        end = code.find(";", m.end())
        if end < 0:
            continue
        tokens = [(t.group(), t.start()) for t in TOKEN.finditer(code, m.end(), end)]
        leaves = []
        pos = 0

        def skip_alias():
            nonlocal pos
            if pos < len(tokens) and tokens[pos][0] == "as":
                pos += 2

        def tree(prefix):
            """Parses one use tree at `pos`, appending its leaves."""
            nonlocal pos
            path = list(prefix)
            while pos < len(tokens):
                word, at = tokens[pos]
                if word == "{":
                    pos += 1
                    while pos < len(tokens) and tokens[pos][0] != "}":
                        before = pos
                        tree(path)
                        if pos < len(tokens) and tokens[pos][0] == ",":
                            pos += 1
                        if pos == before:
                            pos += 1
                    pos += 1  # the `}`
                    return
                if word == "*":
                    pos += 1
                    leaves.append(path + [("*", at)])
                    return
                if word == "self" and path:
                    pos += 1  # `a::{self}`: the prefix itself
                    leaves.append(path)
                    skip_alias()
                    return
                if word in (",", "}"):
                    return
                path.append((word, at))
                pos += 1
                if pos < len(tokens) and tokens[pos][0] == "::":
                    pos += 1
                    continue
                leaves.append(path)
                skip_alias()
                return

        while pos < len(tokens):
            before = pos
            tree([])
            if pos < len(tokens) and tokens[pos][0] == ",":
                pos += 1
            if pos == before:
                pos += 1
        line_start = code.rfind("\n", 0, m.start()) + 1
        is_pub = bool(PUB_BEFORE.search(code[line_start:m.start()]))
        decls.append((m.start(), end, is_pub, leaves))
    return decls


INLINE = re.compile(
    r"(?<![\w$:])(\$?crate|super|self)((?:\s*::\s*(?:super|self|[A-Za-z_]\w*))+)"
)
SEGMENT = re.compile(r"[A-Za-z_]\w*")


KEYWORDS = ("crate", "$crate", "super", "self")
STRING_PATH = re.compile(r"^\s*(?:crate|super|self)(?:\s*::\s*[A-Za-z_]\w*)+\s*$")
ATTRIBUTE_BEFORE = re.compile(r"#!?\[[^\[\]]*=\s*$")


def refs_of(source):
    refs = []

    def add(words, offsets):
        glob = bool(words) and words[-1] == "*"
        if glob:
            words, offsets = words[:-1], offsets[:-1]
        resolved = resolve(source, offsets[0], words)
        if resolved is None:
            return
        target, via_crate = resolved
        # The line of the first segment after `crate::`/`super::`: in a multi-line group, the
        # group member's own line.
        lead = 0
        while lead < len(words) - 1 and words[lead] in KEYWORDS:
            lead += 1
        shown = "::".join(words + (["*"] if glob else []))
        refs.append(Ref(source, offsets[lead], shown, target, via_crate, glob))

    decls = use_decls(source)
    for (_, _, _, leaves) in decls:
        for leaf in leaves:
            if leaf:
                add([w for (w, _) in leaf], [a for (_, a) in leaf])
    for m in INLINE.finditer(source.code):
        if any(a <= m.start() < b for (a, b, _, _) in decls):
            continue
        words = [m.group(1)]
        offsets = [m.start(1)]
        for s in SEGMENT.finditer(m.group(2)):
            words.append(s.group())
            offsets.append(m.start(2) + s.start())
        add(words, offsets)
    # A path in an attribute's string: `#[serde(with = "crate::x::y")]`.
    for (at, text) in source.strings:
        if not STRING_PATH.match(text) or not ATTRIBUTE_BEFORE.search(source.code[max(0, at - 300):at]):
            continue
        words = [w.strip() for w in text.split("::")]
        offsets, k = [], at + 1
        for w in text.split("::"):
            offsets.append(k)
            k += len(w) + 2
        add(words, offsets)
    return refs


# --- The tree. -------------------------------------------------------------------------------

def sources(src):
    found = []
    for folder, dirs, files in os.walk(src):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".rs"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, src).replace(os.sep, "/")
                found.append(Source(path, rel))
    return found


def top_module(rel):
    first = rel.split("/")[0]
    return first[:-3] if first.endswith(".rs") else first


def layer_violations(all_sources):
    """(path, line, why, [paths as written], in test code), one per line and rule."""
    problems, seen = [], {}
    for source in all_sources:
        module = top_module(source.rel)
        forbidden = RULES.get(module)
        if forbidden is None:
            continue
        for ref in refs_of(source):
            if ALL in forbidden:
                if ref.via_crate:
                    why = f"{module} imports nothing of tollgate (no `crate::` paths)"
                elif not ref.target or ref.target[0] != module:
                    why = f"{module} imports nothing of tollgate (the path leaves {module})"
                else:
                    continue
            elif not ref.target:
                if not ref.glob:
                    continue
                why = f"a glob of the crate root imports every module; {module} must not import {', '.join(sorted(forbidden))}"
            elif ref.target[0] in forbidden:
                why = f"{module} must not import {ref.target[0]}"
            else:
                continue
            key = (source.path, ref.line, why)
            if key not in seen:
                seen[key] = []
                problems.append((source.path, ref.line, why, seen[key], ref.in_tests))
            seen[key].append(ref.shown)
    return problems


# --- Circles between the files of one folder. -------------------------------------------------

def reexports(all_sources):
    """For each folder's mod.rs: name -> the child it re-exports it from (`pub use child::X`)."""
    table = {}
    for source in all_sources:
        if not source.rel.endswith("/mod.rs"):
            continue
        folder = source.module
        names = {}
        for (_, _, is_pub, leaves) in use_decls(source):
            if not is_pub:
                continue
            for leaf in leaves:
                words = [w for (w, _) in leaf]
                if not words or words[-1] == "*":
                    continue
                if words[0] in KEYWORDS:
                    resolved = resolve(source, leaf[0][1], words)
                    if resolved is None:
                        continue
                    target = resolved[0]
                else:
                    target = folder + words  # `pub use child::X` names a child module
                if len(target) > len(folder) + 1 and target[: len(folder)] == folder:
                    names[words[-1]] = target[len(folder)]
        table[tuple(folder)] = names
    return table


def folder_circles(all_sources):
    """(folder, [members], [(from, to, path, line, shown)]) for each circle."""
    children = {}  # folder path (tuple) -> set of child names (files and subfolders)
    for source in all_sources:
        parts = source.rel[:-3].split("/")
        for depth in range(1, len(parts)):
            folder = tuple(parts[:depth])
            name = parts[depth]
            if depth == len(parts) - 1 and name == "mod":
                continue
            children.setdefault(folder, set()).add(name)
    exported = reexports(all_sources)
    edges = {}  # folder -> {(a, b): first (path, line, shown)}
    for source in all_sources:
        parts = source.rel[:-3].split("/")
        if parts[-1] == "mod":
            parts = parts[:-1]
        for ref in refs_of(source):
            target = ref.target
            for depth in range(1, len(parts)):
                folder = tuple(parts[:depth])
                mine = parts[depth]
                if tuple(target[:depth]) != folder or len(target) <= depth:
                    continue
                theirs = target[depth]
                if theirs not in children.get(folder, ()):
                    theirs = exported.get(folder, {}).get(theirs)
                if theirs in children.get(folder, ()) and theirs != mine:
                    known = edges.setdefault(folder, {})
                    example = (source.path, ref.line, ref.shown, ref.in_tests)
                    # The example shown: the first outside test code, if any.
                    if (mine, theirs) not in known or (known[(mine, theirs)][3] and not ref.in_tests):
                        known[(mine, theirs)] = example
    circles = []
    for folder, pairs in sorted(edges.items()):
        graph = {}
        for a, b in pairs:
            graph.setdefault(a, set()).add(b)
        for component in strongly_connected(graph):
            if len(component) < 2:
                continue
            members = sorted(component)
            inside = [
                (a, b) + pairs[(a, b)]
                for (a, b) in sorted(pairs)
                if a in component and b in component
            ]
            circles.append(("/".join(folder), members, inside))
    return circles


def strongly_connected(graph):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    nodes = set(graph) | {b for bs in graph.values() for b in bs}

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
            component = set()
            while True:
                w = stack.pop()
                on.discard(w)
                component.add(w)
                if w == v:
                    break
            out.append(component)

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


# --- Report. ----------------------------------------------------------------------------------

def main():
    all_sources = sources(SRC)
    if not all_sources:
        print(f"check-layers: no .rs files under {SRC}", file=sys.stderr)
        return 2
    failed = False

    problems = sorted(layer_violations(all_sources), key=lambda p: (p[0], p[1]))
    for path, line, why, shown, in_tests in problems:
        paths = ", ".join(f"`{p}`" for p in shown)
        where = " (in #[cfg(test)] code)" if in_tests else ""
        print(f"{path}:{line}: layer violation: {why}: {paths}{where}", file=sys.stderr)
    if problems:
        failed = True
        print(
            f"check-layers: {len(problems)} layer violation(s); the rules are the table at the "
            "top of scripts/check-layers.sh",
            file=sys.stderr,
        )

    circles = folder_circles(all_sources)
    kind = "error" if STRICT else "warning"
    for folder, members, inside in circles:
        print(f"{kind}: {folder}/: files import each other: {' <-> '.join(members)}", file=sys.stderr)
        for a, b, path, line, shown, in_tests in inside:
            only = " (only from #[cfg(test)] code)" if in_tests else ""
            print(f"    {path}:{line}: {a} -> {b}: `{shown}`{only}", file=sys.stderr)
    if circles:
        if STRICT:
            failed = True
        print(
            f"check-layers: {len(circles)} circle(s) between files of one folder"
            + ("" if STRICT else " (warnings; errors with --strict-files)"),
            file=sys.stderr,
        )

    if failed:
        return 1
    print(f"check-layers: {len(all_sources)} files under {SRC} respect the layers")
    return 0


sys.exit(main())
PYTHON
