"""dkms.conf as a build fact: which modules a DKMS package builds and how dkms runs make.

dkms sources dkms.conf with bash. gplscan never runs a target's code, so this is a static
reader of the shell that dkms.conf files are written in: assignments (``NAME=value``,
``NAME[i]=value``, ``NAME=(a b c)``), quoting, ``$var``/``${var}`` substitution and the
counter idiom ``i=$((i+1))``. Control flow is not evaluated: an assignment in any branch
of an ``if`` counts (they choose between kernels, which a static reading does not know).
A command substitution ``$(...)`` stays as text that names no module.

What it yields: every ``BUILT_MODULE_NAME[i]`` with its ``BUILT_MODULE_LOCATION[i]`` and
line (each must appear in the report, judged or not-judged), the ``MAKE[i]`` lines with the
variables they set on make's command line (``XA_ABSTOPSRCDIR=${BDIR}``: the package's own
directory once dkms's paths are mapped onto the target), ``PATCH[]`` and
``BUILD_EXCLUSIVE_*``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

# dkms's own variables, as a static reading can know them: the build directory of the
# package (where dkms copies the tree and runs MAKE) is the directory of dkms.conf
_BUILD = "\x01build"
_KERNEL_DIR = "/lib/modules/KERNELVER/build"
DKMS_VARIABLES = {
    "dkms_tree": "\x01tree",
    "source_tree": "\x01sources",
    "kernelver": "KERNELVER",
    "kernel_source_dir": _KERNEL_DIR,
    "arch": "x86_64",
    "PWD": _BUILD,
}
# Kbuild's own per-directory variables: set by the make reader for each directory it reads
_PER_DIRECTORY = frozenset({"M", "KBUILD_EXTMOD", "SUBDIRS", "src", "obj"})
_ASSIGNMENT = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\[(?P<index>[^\]]*)\])?(?P<op>\+?=)")
_MAKE_VARIABLE = re.compile(r"""(?:^|[\s;(])([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|[^\s;)]*)""")


@dataclass(frozen=True, slots=True)
class BuiltModule:
    """A module dkms.conf says the package builds."""

    index: int
    name: str
    location: str  # BUILT_MODULE_LOCATION[i], relative to the package directory ("" = top)
    line: int  # the line of BUILT_MODULE_NAME[i]


@dataclass(slots=True)
class DkmsConf:
    """What one dkms.conf says, with the lines that say it."""

    path: PurePosixPath  # relative to the target
    variables: dict[str, str] = field(default_factory=dict)
    arrays: dict[str, dict[int, tuple[str, int]]] = field(default_factory=dict)

    def array(self, name: str) -> dict[int, tuple[str, int]]:
        """index -> (value, line) of an array (a plain NAME=value is index 0)."""
        return self.arrays.get(name, {})

    @property
    def modules(self) -> list[BuiltModule]:
        locations = self.array("BUILT_MODULE_LOCATION")
        return [
            BuiltModule(i, name, locations.get(i, ("", 0))[0].strip("/"), line)
            for i, (name, line) in sorted(self.array("BUILT_MODULE_NAME").items())
            if name and "\x00" not in name
        ]

    @property
    def make_lines(self) -> list[tuple[str, int]]:
        return [v for _, v in sorted(self.array("MAKE").items())]

    @property
    def patches(self) -> list[tuple[str, int]]:
        return [v for _, v in sorted(self.array("PATCH").items())]

    def make_variables(self, package_dir: str) -> dict[str, str]:
        """Variables the MAKE lines set for make (``NAME=value`` words, env included), with
        dkms's paths to the package's build directory mapped onto ``package_dir``."""
        out: dict[str, str] = {}
        for text, _ in self.make_lines:
            for name, raw in _MAKE_VARIABLE.findall(text):
                value = raw[1:-1] if raw[:1] in "\"'" and raw[-1:] == raw[:1] else raw
                if name in _PER_DIRECTORY or any(c in value for c in "\x00`$"):
                    continue  # a value only running the command would give
                out[name] = self.local_path(value, package_dir)
        return out

    def make_directories(self, package_dir: str) -> list[str]:
        """The directories the MAKE lines build in (``-C dir``, ``M=dir``, ``SUBDIRS=dir``),
        as paths under ``package_dir`` where dkms's paths lead there."""
        out = []
        for text, _ in self.make_lines:
            for raw in re.findall(r"(?:-C\s*|\bM=|\bSUBDIRS=)(\S+)", text):
                path = self.local_path(raw.strip("\"'"), package_dir)
                if path.startswith(package_dir):
                    out.append(path)
        return out

    def local_path(self, value: str, package_dir: str) -> str:
        """A value with dkms's build-directory paths replaced by ``package_dir``."""
        name = self.variables.get("PACKAGE_NAME", "")
        version = self.variables.get("PACKAGE_VERSION", "")
        prefixes = (
            f"\x01tree/{name}/{version}/build",
            f"\x01sources/{name}-{version}",
            f"/usr/src/{name}-{version}",
            _BUILD,
        )
        # each path word on its own, once: package_dir may itself end in /usr/src/<name>
        return re.sub(
            "|".join(re.escape(p) for p in prefixes),
            lambda m: package_dir,
            value,
        )


def read_dkms_conf(text: str, path: PurePosixPath) -> DkmsConf:
    """Read a dkms.conf statically (never run)."""
    conf = DkmsConf(path)
    env = dict(DKMS_VARIABLES)
    for line, statement in _statements(text):
        m = _ASSIGNMENT.match(statement)
        if m is None:
            continue
        rest = statement[m.end() :]
        name, index_text = m.group("name"), m.group("index")
        if rest.startswith("("):  # NAME=(a b c): an array
            close = _closing(rest, 0)
            items = _words(rest[1:close], env) if close > 0 else []
            conf.arrays[name] = {i: (v, line) for i, v in enumerate(items)}
            env[name] = items[0] if items else ""
            continue
        value = " ".join(_words(rest, env, first_only=True))
        if index_text is None:
            env[name] = value
            conf.variables[name] = value
            conf.arrays.setdefault(name, {})[0] = (value, line)
            continue
        index = _arithmetic(_expand(index_text, env))
        if index is not None:
            conf.arrays.setdefault(name, {})[index] = (value, line)
    return conf


def _statements(text: str) -> list[tuple[int, str]]:
    """(line, statement) of each simple statement: comments dropped, continuations and
    quoted newlines joined, ``;`` separating, and the words of if/then/else/fi skipped."""
    out: list[tuple[int, str]] = []
    i, n, line = 0, len(text), 1
    start, start_line = 0, 1
    quote: str | None = None
    depth = 0  # $( ... ) nesting

    def take(end: int) -> None:
        piece = text[start:end].strip()
        for keyword in ("then", "else", "do", "if", "elif", "while", "until", "!"):
            if piece.startswith(keyword + " ") or piece == keyword:
                piece = piece[len(keyword) :].strip()
        if piece and piece not in ("fi", "done", "then", "else", "esac"):
            out.append((start_line, piece))

    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        if quote == "'":
            quote = None if c == "'" else quote
        elif c == "\\" and i + 1 < n:
            if text[i + 1] == "\n":
                line += 1
            i += 2
            continue
        elif quote == '"':
            if c == '"' and depth == 0:
                quote = None
            elif text.startswith("$(", i):
                depth += 1
                i += 2
                continue
            elif c == ")" and depth:
                depth -= 1
        elif c in "\"'":
            quote = c
        elif c == "#" and (i == start or text[i - 1] in " \t\n;"):
            end = text.find("\n", i)
            take(i)
            i = n if end < 0 else end
            start, start_line = i, line
            continue
        elif c in "\n;":
            take(i)
            start, start_line = i + 1, line
        i += 1
    take(n)
    return out


def _closing(text: str, start: int) -> int:
    depth = 0
    for j in range(start, len(text)):
        if text[j] == "(":
            depth += 1
        elif text[j] == ")":
            depth -= 1
            if depth == 0:
                return j
    return -1


def _words(text: str, env: dict[str, str], *, first_only: bool = False) -> list[str]:
    """Shell words of ``text`` with quotes removed and variables substituted; a command
    substitution becomes "\\0" (a value not known)."""
    words: list[str] = []
    current: list[str] = []
    started = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace() and not started:
            i += 1
            continue
        if c.isspace():
            words.append("".join(current))
            current, started = [], False
            if first_only:
                break
            i += 1
            continue
        started = True
        if c == "'":
            end = text.find("'", i + 1)
            end = n if end < 0 else end
            current.append(text[i + 1 : end])
            i = end + 1
        elif c == '"':
            j = i + 1
            depth = 0
            while j < n and not (text[j] == '"' and depth == 0):
                if text[j] == "\\":
                    j += 1
                elif text.startswith("$(", j):
                    depth += 1
                elif text[j] == ")" and depth:
                    depth -= 1
                j += 1
            current.append(_expand(text[i + 1 : j], env))
            i = j + 1
        elif c == "\\" and i + 1 < n:
            current.append(text[i + 1])
            i += 2
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in "\"'":
                j += 1
            current.append(_expand(text[i:j], env))
            i = j
    if started:
        words.append("".join(current))
    return words


_REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def _expand(text: str, env: dict[str, str]) -> str:
    arith = re.fullmatch(r"\$\(\((.*)\)\)", text.strip())
    if arith:
        value = _arithmetic(_REFERENCE.sub(lambda m: env.get(m[1] or m[2], "0"), arith[1]), env)
        return str(value) if value is not None else "\x00"
    text = re.sub(r"\$\((?:[^()]|\([^()]*\))*\)|`[^`]*`", "\x00", text)
    text = text.replace("\\\n", "").replace('\\"', '"').replace("\\$", "$")
    return _REFERENCE.sub(lambda m: env.get(m[1] or m[2], ""), text)


_TERM = r"\s*([+-]?)\s*([A-Za-z_][A-Za-z0-9_]*|\d+)\s*"
_SUM = re.compile(rf"(?:{_TERM})+")


def _arithmetic(text: str, env: dict[str, str] | None = None) -> int | None:
    """A sum of integers and variables (``i+1``), else None."""
    if not _SUM.fullmatch(text):
        return None
    env = env or {}
    total = 0
    for sign, term in re.findall(_TERM, text):
        value = term if term.isdigit() else env.get(term, "0")
        if not value.lstrip("-").isdigit():
            return None
        total += -int(value) if sign == "-" else int(value)
    return total
