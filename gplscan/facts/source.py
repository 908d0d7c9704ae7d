"""Source facts: what a C/assembler file or header declares about its license and symbols.

Read without a compiler and without scancode: the SPDX tag, MODULE_LICENSE and its
friends (byte-exact), EXPORT_SYMBOL declarations, the non-static functions it defines,
and the ``#define NAME "string"`` macros a MODULE_LICENSE may refer to.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from gplscan.facts import ctext, spdx
from gplscan.model import ExportDecl, Location, ModuleInfoDecl, SourceFacts, SpdxTag

# MODULE_<X>(value) macros and the .modinfo tag each emits
MODULE_MACROS: dict[str, str] = {
    "MODULE_LICENSE": "license",
    "MODULE_AUTHOR": "author",
    "MODULE_DESCRIPTION": "description",
    "MODULE_VERSION": "version",
    "MODULE_ALIAS": "alias",
    "MODULE_FIRMWARE": "firmware",
    "MODULE_SOFTDEP": "softdep",
    "MODULE_IMPORT_NS": "import_ns",
}
# literal first, so the regex engine can jump between candidates; word start checked by hand
_MODULE_CALL = re.compile(r"(MODULE_[A-Z_]+)\s*\(")
_EXPORT_CALL = re.compile(
    r"(EXPORT_SYMBOL(?:_NS)?(?:_GPL)?(?:_FUTURE)?|EXPORT_SYMBOL_NS_GPL|"
    r"EXPORT_SYMBOL_FOR_MODULES|EXPORT_SYMBOL_GPL_FOR_MODULES|EXPORT_GPL_SYMBOL)\s*\("
)
_STRING_DEFINE = re.compile(
    r"#[ \t]*define[ \t]+(?P<name>[A-Za-z_]\w*)[ \t]+(?P<value>(?:\"(?:[^\"\\\n]|\\.)*\"\s*)+)$"
)
_TOKENS = re.compile(r"[A-Za-z_]\w*|[{}();=]")
_NOT_FUNCTIONS = frozenset(
    {
        "if",
        "while",
        "for",
        "switch",
        "return",
        "sizeof",
        "__attribute__",
        "__section",
        "__aligned",
        "alignas",
        "_Alignas",
        "typeof",
        "__typeof__",
        "asm",
        "__asm__",
    }
)
_IDENT = re.compile(r"[A-Za-z_]\w*")
# a project's own wrapper of a MODULE_ macro: ZFS_MODULE_LICENSE("Dual BSD/GPL")
_WRAPPER_PREFIX = re.compile(r"(?<![A-Za-z0-9_])[A-Z][A-Z0-9_]*_\Z")


def read_text(path: Path) -> str:
    """A source file as text; undecodable bytes survive as surrogate escapes."""
    return path.read_bytes().decode("utf-8", "surrogateescape")


def decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


_TAG_BYTES = b"SPDX-License-Identifier:"


def read_tag(data: bytes, rel: PurePosixPath) -> tuple[SpdxTag | None, str | None]:
    """The file's SPDX tag (normalized, with its line), or the reason it does not parse."""
    at = data.find(_TAG_BYTES)
    if at < 0:
        return None, None
    end = data.find(b"\n", at)
    line_text = decode(data[at : end if end >= 0 else len(data)])
    found = spdx.find_tag(line_text)
    line = data.count(b"\n", 0, at) + 1
    if found is None:  # pragma: no cover - the marker was found just above
        return None, None
    raw = found[0]
    try:
        return SpdxTag(spdx.normalize(raw), raw, Location(rel, line)), None
    except spdx.SpdxError as exc:
        return None, f"line {line}: {exc}"


def source_facts(
    path: Path | None, rel: PurePosixPath, text: str | None = None, *, defines: bool = True
) -> SourceFacts:
    """Read one file's facts (from ``text`` when given, else from ``path``).

    Raises OSError when the file cannot be read; everything else becomes data. Function
    definitions are the costly part and are read only when ``defines`` is set.
    """
    if text is None:
        assert path is not None
        text = read_text(path)
    tag, tag_error = read_tag(text.encode("utf-8", "surrogateescape"), rel)
    lines = ctext.LineIndex(text)
    uncommented = ctext.strip_comments(text)
    string_defines = tuple(_string_defines(uncommented))
    includes = tuple(_includes(uncommented))
    code = ctext.blank_directives(uncommented)
    return SourceFacts(
        path=rel,
        spdx=tag,
        spdx_error=tag_error,
        module_info=tuple(_module_info(code, uncommented, rel, lines)),
        exports=tuple(_exports(code, rel, lines)),
        defines=frozenset(_defined_functions(ctext.strip_comments(code, strings=True)))
        if defines
        else frozenset(),
        string_defines=string_defines,
        includes=includes,
        runtime_imports=tuple(_runtime_imports(code, lines)),
    )


# symbol_get(x) names x itself; __symbol_get takes a string: only a literal names a symbol
# (mtd's __symbol_get(probename) binds whatever a variable holds)
_SYMBOL_GET = re.compile(
    r"\b(?:symbol_get|symbol_request)\s*\(\s*([A-Za-z_]\w*)\s*\)"
    r"|\b__symbol_get\s*\(\s*\"([A-Za-z_]\w*)\"\s*\)"
)


def _runtime_imports(code: str, lines: ctext.LineIndex) -> Iterable[tuple[str, int]]:
    """symbol_get(x) / __symbol_get("x") calls: the kernel binds x when the code runs."""
    if "symbol_" not in code:
        return
    seen: set[str] = set()
    for m in _SYMBOL_GET.finditer(code):
        name = m.group(1) or m.group(2)
        if name not in seen:
            seen.add(name)
            yield name, lines.line(m.start())


_MODULE_ENTRY = re.compile(r"^\s*module_(init|exit)\s*\(", re.MULTILINE)


def defined_functions(text: str) -> frozenset[str]:
    """Global functions a source defines at file scope: non-static ones, and the
    ``init_module``/``cleanup_module`` aliases module_init/module_exit make. A macro
    invocation that looks like a definition (``DAHDI_IRQ_HANDLER(x) {``, all capitals) is
    not one: the name it defines is the macro's to say."""
    code = ctext.blank_directives(ctext.strip_comments(text))
    names = {
        n for n in _defined_functions(ctext.strip_comments(code, strings=True)) if not n.isupper()
    }
    for m in _MODULE_ENTRY.finditer(code):
        names.add("init_module" if m.group(1) == "init" else "cleanup_module")
    return frozenset(names)


_INCLUDE = re.compile(r'#[ \t]*include[ \t]*([<"][^>"\n]+[>"])')


def _includes(uncommented: str) -> Iterable[str]:
    for m in ctext.directives(uncommented):
        inc = _INCLUDE.match(m.group(0).lstrip())
        if inc:
            yield inc.group(1)


def rebind(sf: SourceFacts, rel: PurePosixPath) -> SourceFacts:
    """The same facts for another file with the same content (facts are cached by content)."""
    if sf.path == rel:
        return sf
    return dataclasses.replace(
        sf,
        path=rel,
        spdx=dataclasses.replace(sf.spdx, at=Location(rel, sf.spdx.at.line)) if sf.spdx else None,
        module_info=tuple(
            dataclasses.replace(d, at=Location(rel, d.at.line)) for d in sf.module_info
        ),
        exports=tuple(dataclasses.replace(e, at=Location(rel, e.at.line)) for e in sf.exports),
    )


def _string_defines(uncommented: str) -> Iterable[tuple[str, bytes]]:
    for m in ctext.directives(uncommented):
        d = _STRING_DEFINE.match(m.group(0).replace("\\\n", " ").strip())
        if d:
            value = ctext.string_literals_only(d.group("value"))
            if value is not None:
                yield d.group("name"), value


def _module_info(
    code: str, uncommented: str, rel: PurePosixPath, lines: ctext.LineIndex
) -> Iterable[ModuleInfoDecl]:
    """MODULE_LICENSE and its kin. ``code`` has its directives blanked (offsets kept);
    ``uncommented`` still has them, for an argument a ``#if`` splits."""
    if "MODULE_" not in code:
        return
    for m in _MODULE_CALL.finditer(code):
        if _word_continues(code, m.start()) and not _WRAPPER_PREFIX.search(code, 0, m.start()):
            continue
        macro = m.group(1)
        if macro != "MODULE_INFO" and macro not in MODULE_MACROS:
            continue
        call = ctext.call_arguments(code, m.end() - 1)
        if call is None:
            continue
        raw = uncommented[m.end() : call[1] - 1]
        if _DIRECTIVE_LINE.search(raw):
            # MODULE_LICENSE(\n#if 1\n"GPL"\n#else\n"Proprietary"\n#endif\n): the
            # compiler sees one branch, never both strings glued together
            chosen = _preprocessed(raw)
            if chosen is None:
                yield ModuleInfoDecl(
                    tag=MODULE_MACROS.get(macro, macro),
                    value=None,
                    argument=raw.strip(),
                    at=Location(rel, lines.line(m.start())),
                )
                continue
            call = (chosen, call[1])
        args = ctext.split_arguments(call[0])
        if macro == "MODULE_INFO":
            if len(args) != 2 or not _IDENT.fullmatch(args[0]):
                continue
            tag, argument = args[0], args[1]
        else:
            tag, argument = MODULE_MACROS[macro], call[0].strip()
        yield ModuleInfoDecl(
            tag=tag,
            value=ctext.string_literals_only(argument),
            argument=argument,
            at=Location(rel, lines.line(m.start())),
        )


_DIRECTIVE_LINE = re.compile(r"^[ \t]*#", re.MULTILINE)
_CONSTANT = re.compile(r"\(*\s*(0[xX][0-9a-fA-F]+|\d+)[uUlL]*\s*\)*")


def _preprocessed(raw: str) -> str | None:
    """The text of a macro argument the preprocessor keeps, when every condition in it is
    a constant (``#if 0``, ``#if 1``, ``#elif 2``, ``#else``); None when one is not."""
    kept: list[str] = []
    # per open #if: (this branch is kept, an earlier branch was kept, the #if is kept)
    stack: list[tuple[bool, bool, bool]] = []
    for line in raw.splitlines(keepends=True):
        stripped = line.strip()
        if not stripped.startswith("#"):
            if all(keep for keep, _, _ in stack):
                kept.append(line)
            continue
        word, _, rest = stripped[1:].strip().partition(" ")
        constant = _CONSTANT.fullmatch(rest.strip())
        value = constant is not None and int(constant.group(1), 0) != 0
        if word == "if" and constant is not None:
            stack.append((value, value, all(k for k, _, _ in stack)))
        elif word == "elif" and constant is not None and stack:
            _, taken, outer = stack[-1]
            stack[-1] = (value and not taken, taken or value, outer)
        elif word == "else" and stack:
            _, taken, outer = stack[-1]
            stack[-1] = (not taken, True, outer)
        elif word == "endif" and stack:
            stack.pop()
        else:
            return None  # #ifdef, #if CONFIG_X, #define ...: depends on what gplscan cannot see
    return None if stack else "".join(kept)


def _exports(code: str, rel: PurePosixPath, lines: ctext.LineIndex) -> Iterable[ExportDecl]:
    if "EXPORT_" not in code:
        return
    for m in _EXPORT_CALL.finditer(code):
        if _word_continues(code, m.start()):
            continue
        call = ctext.call_arguments(code, m.end() - 1)
        if call is None:
            continue
        args = ctext.split_arguments(call[0])
        if not args or not _IDENT.fullmatch(args[0]):
            continue
        macro = m.group(1)
        namespace = None
        if "_NS" in macro and len(args) > 1:
            literal = ctext.string_literals_only(args[1])
            namespace = literal.decode("utf-8", "replace") if literal is not None else args[1]
        gpl_only = "GPL" in macro and "FUTURE" not in macro
        yield ExportDecl(args[0], gpl_only, namespace, Location(rel, lines.line(m.start())))


def _word_continues(text: str, start: int) -> bool:
    """True when ``text[start]`` is inside a longer identifier (no word boundary before it)."""
    return start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_")


def _defined_functions(code: str) -> Iterable[str]:
    """Non-static functions defined at file scope (``name(...) {`` at brace depth 0)."""
    depth = 0
    decl: list[str] = []
    for m in _TOKENS.finditer(code):
        tok = m.group(0)
        if tok == "{":
            if depth == 0 and decl and decl[-1] == ")" and "=" not in decl:
                name = _function_name(decl)
                if name and "static" not in decl:
                    yield name
            depth += 1
            decl = []
        elif tok == "}":
            depth = max(0, depth - 1)
            decl = []
        elif depth == 0:
            if tok == ";":
                decl = []
            else:
                decl.append(tok)


def _function_name(decl: list[str]) -> str | None:
    """The identifier before the parameter list that ends ``decl``."""
    depth = 0
    for i in range(len(decl) - 1, -1, -1):
        tok = decl[i]
        if tok == ")":
            depth += 1
        elif tok == "(":
            depth -= 1
            if depth == 0:
                if i > 0 and _IDENT.fullmatch(decl[i - 1]) and decl[i - 1] not in _NOT_FUNCTIONS:
                    return decl[i - 1]
                return None
    return None


def symbol_lines(text: str, symbols: Iterable[str], *, want: str = "use") -> dict[str, int]:
    """The line (1-based) that best shows each of ``symbols`` in the code of ``text``.

    ``want="use"`` prefers a mention inside a function body (a call) over a prototype;
    ``want="definition"`` prefers the file-scope mention that a ``{`` follows before any
    ``;`` (the definition). Either falls back to the first mention.
    """
    wanted = set(symbols)
    if not wanted:
        return {}
    code = ctext.strip_comments(ctext.blank_directives(text), strings=True)
    lines = ctext.LineIndex(code)
    first: dict[str, int] = {}
    best: dict[str, int] = {}
    depth = 0
    for m in _SCOPE_TOKENS.finditer(code):
        tok = m.group(0)
        if tok == "{":
            depth += 1
            continue
        if tok == "}":
            depth = max(0, depth - 1)
            continue
        if tok not in wanted or tok in best:
            continue
        offset = m.start()
        first.setdefault(tok, offset)
        if want == "use" and depth > 0:
            best[tok] = offset
        elif want == "definition" and depth == 0:
            brace, semi = code.find("{", offset), code.find(";", offset)
            if brace >= 0 and (semi < 0 or brace < semi):
                best[tok] = offset
    return {name: lines.line(best.get(name, offset)) for name, offset in first.items()}


_SCOPE_TOKENS = re.compile(r"[A-Za-z_]\w*|[{}]")


def function_bodies(text: str, names: Iterable[str]) -> dict[str, str]:
    """The code of each named function's body (comments and strings blanked), if defined."""
    wanted = set(names)
    if not wanted:
        return {}
    code = ctext.strip_comments(ctext.blank_directives(ctext.strip_comments(text)), strings=True)
    bodies: dict[str, str] = {}
    for m in _IDENT.finditer(code):
        name = m.group(0)
        if name not in wanted or name in bodies:
            continue
        paren = m.end()
        while paren < len(code) and code[paren] in " \t\n":
            paren += 1
        if paren >= len(code) or code[paren] != "(":
            continue
        call = ctext.call_arguments(code, paren)
        if call is None:
            continue
        brace = code.find("{", call[1])
        semi = code.find(";", call[1])
        if brace < 0 or (0 <= semi < brace):
            continue
        depth = 0
        for i in range(brace, len(code)):
            if code[i] == "{":
                depth += 1
            elif code[i] == "}":
                depth -= 1
                if depth == 0:
                    bodies[name] = code[brace + 1 : i]
                    break
    return bodies


_CALL = re.compile(r"[{}]|\b([A-Za-z_]\w*)\s*\(")


_CONDITIONAL = re.compile(r"^\s*#\s*(if|ifdef|ifndef|endif)\b")


def called_functions(text: str) -> tuple[dict[str, int], bool]:
    """Names a source calls: ``name(`` inside a function body (comments, strings and
    preprocessor lines left out; prototypes at file scope are no calls), with the line of
    the first call of each; and whether calls were left out because they sit under
    ``#if``/``#ifdef`` (a branch gplscan does not evaluate: openafs calls cache_purge only
    under ``#ifdef AFS_DARWIN_ENV``)."""
    conditional: set[int] = set()
    depth_if = 0
    for number, row in enumerate(text.splitlines(), 1):
        m = _CONDITIONAL.match(row)
        if m is not None:
            depth_if = max(0, depth_if + (-1 if m.group(1) == "endif" else 1))
        elif depth_if:
            conditional.add(number)
    code = ctext.strip_comments(ctext.blank_directives(text), strings=True)
    lines = ctext.LineIndex(code)
    out: dict[str, int] = {}
    left_out = False
    depth = 0
    for m in _CALL.finditer(code):
        name = m.group(1)
        if name is None:
            depth = depth + 1 if m.group(0) == "{" else max(0, depth - 1)
        elif depth and name not in out and name not in _NOT_FUNCTIONS:
            line = lines.line(m.start())
            if line in conditional:
                left_out = True
            else:
                out[name] = line
    return out, left_out


def identifiers(code: str) -> frozenset[str]:
    return frozenset(_IDENT.findall(code))
