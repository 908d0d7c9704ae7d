"""Source facts: what a C/assembler file or header declares about its license and symbols.

Read without a compiler and without scancode: the SPDX tag, MODULE_LICENSE and its
friends (byte-exact), EXPORT_SYMBOL declarations, the non-static functions it defines,
and the ``#define NAME "string"`` macros a MODULE_LICENSE may refer to.
"""

from __future__ import annotations

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
_MODULE_CALL = re.compile(r"\b(MODULE_(?:[A-Z_]+)|MODULE_INFO)\s*\(")
_EXPORT_CALL = re.compile(
    r"\b(EXPORT_SYMBOL(?:_NS)?(?:_GPL)?(?:_FUTURE)?|EXPORT_SYMBOL_NS_GPL|"
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


def read_text(path: Path) -> str:
    """A source file as text; undecodable bytes survive as surrogate escapes."""
    return path.read_bytes().decode("utf-8", "surrogateescape")


def source_facts(
    path: Path, rel: PurePosixPath, text: str | None = None
) -> tuple[SourceFacts, tuple[tuple[str, bytes], ...]]:
    """Read one file's facts; also return its ``#define NAME "string"`` macros.

    Raises OSError when the file cannot be read; everything else becomes data.
    """
    if text is None:
        text = read_text(path)
    lines = ctext.LineIndex(text)
    tag: spdx.Tag | None = None
    tag_error: str | None = None
    found = spdx.find_tag(text)
    spdx_tag = None
    if found is not None:
        raw, offset = found
        try:
            tag = spdx.Tag(spdx.normalize(raw), raw, offset)
        except spdx.SpdxError as exc:
            tag_error = f"line {lines.line(offset)}: {exc}"
    if tag is not None:
        spdx_tag = SpdxTag(tag.expression, tag.raw, Location(rel, lines.line(tag.offset)))

    uncommented = ctext.strip_comments(text)
    defines = tuple(_string_defines(uncommented))
    code = ctext.blank_directives(uncommented)
    module_info = tuple(_module_info(code, rel, lines))
    exports = tuple(_exports(code, rel, lines))
    functions = frozenset(_defined_functions(ctext.strip_comments(code, strings=True)))
    facts = SourceFacts(
        path=rel,
        spdx=spdx_tag,
        spdx_error=tag_error,
        module_info=module_info,
        exports=exports,
        defines=functions,
    )
    return facts, defines


def _string_defines(uncommented: str) -> Iterable[tuple[str, bytes]]:
    for m in ctext.directives(uncommented):
        d = _STRING_DEFINE.match(m.group(0).replace("\\\n", " ").strip())
        if d:
            value = ctext.string_literals_only(d.group("value"))
            if value is not None:
                yield d.group("name"), value


def _module_info(code: str, rel: PurePosixPath, lines: ctext.LineIndex) -> Iterable[ModuleInfoDecl]:
    for m in _MODULE_CALL.finditer(code):
        macro = m.group(1)
        if macro != "MODULE_INFO" and macro not in MODULE_MACROS:
            continue
        call = ctext.call_arguments(code, m.end() - 1)
        if call is None:
            continue
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


def _exports(code: str, rel: PurePosixPath, lines: ctext.LineIndex) -> Iterable[ExportDecl]:
    for m in _EXPORT_CALL.finditer(code):
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
