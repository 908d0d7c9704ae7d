"""The bundled example trees: where they live, and preparing a copy to scan or build.

gplscan ships two miniature reconstructions of the 2009 Hyper-V drivers (``hyperv-2009``,
GPL drivers statically linked with a closed object, and its clean twin
``hyperv-2009-open``). The closed object is never stored: its source sits outside the
trees in ``fixtures/_private`` and ``blobs.toml`` there says which source becomes which
shipped file. :func:`prepare_example` copies a tree, compiles its closed objects into the
copy and, on request, builds the copy with ``fixtures/minikbuild.mk`` (a Kbuild emulation
that needs no kernel headers) so that it also holds ``.o``/``.ko`` files and Kbuild's
``.mod``/``.cmd`` records.

Stdlib only; the demo command and the tests are its callers.
"""

from __future__ import annotations

import fnmatch
import os
import shlex
import shutil
import stat
import subprocess
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gplscan.errors import ExampleError as ExampleError  # importers: gplscan.errors

PRIVATE_DIR = "_private"
BLOBS_FILE = "blobs.toml"
MAKEFILE = "minikbuild.mk"

#: How every closed object is compiled (also written down in ``fixtures/_private/BUILD.md``).
BLOB_CFLAGS: tuple[str, ...] = (
    "-c",
    "-O2",
    "-fno-pic",
    "-ffreestanding",
    "-fno-stack-protector",
    "-g0",
)

#: What a build with minikbuild.mk runs.
BUILD_TOOLS: tuple[str, ...] = ("make", "gcc", "ld", "nm", "objdump")

#: Files a build leaves in a tree; never copied out of the bundled trees.
_BUILD_OUTPUTS: tuple[str, ...] = (
    "*.o",
    "*.ko",
    "*.mod",
    "*.mod.c",
    ".*.cmd",
    ".*.d",
    "*.tmp",
    "modules.order",
    "Module.symvers",
    "__pycache__",
)

_SUBPROCESS_TIMEOUT = 600
_STDERR_TAIL_LINES = 20


@dataclass(frozen=True, slots=True)
class Blob:
    """One closed object of an example: ``source`` (in ``_private``) compiled to ``output``."""

    example: str
    source: PurePosixPath
    output: PurePosixPath


def data_dir() -> Path:
    """The directory holding the example trees, ``_private`` and ``minikbuild.mk``.

    A wheel carries them in ``gplscan/_data/fixtures``; a source checkout has them in the
    repository's ``fixtures/`` next to the package.
    """
    package = Path(__file__).resolve().parent
    for candidate in (package / "_data" / "fixtures", package.parent / "fixtures"):
        if candidate.is_dir():
            return candidate
    raise ExampleError(
        f"the bundled example trees are missing: looked in {package / '_data' / 'fixtures'} "
        f"and {package.parent / 'fixtures'}; reinstall gplscan"
    )


def example_names() -> list[str]:
    """Names of the bundled example trees: top-level directories with a ``Kbuild`` file."""
    root = data_dir()
    return sorted(
        entry.name
        for entry in root.iterdir()
        if entry.is_dir() and not entry.name.startswith(("_", ".")) and (entry / "Kbuild").is_file()
    )


def blobs_for(name: str) -> list[Blob]:
    """The closed objects ``blobs.toml`` lists for example ``name`` (possibly none)."""
    recipe = data_dir() / PRIVATE_DIR / BLOBS_FILE
    try:
        data = tomllib.loads(recipe.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ExampleError(f"{recipe}: cannot read the closed-object recipe: {exc}") from exc

    entries = data.get("blob", [])
    if not isinstance(entries, list):
        raise ExampleError(f"{recipe}: 'blob' must be an array of tables ([[blob]])")
    blobs: list[Blob] = []
    for index, entry in enumerate(entries, start=1):
        where = f"{recipe}: blob #{index}"
        if not isinstance(entry, dict):
            raise ExampleError(f"{where}: must be a table")
        fields = {key: entry.get(key) for key in ("example", "source", "output")}
        missing = [key for key, value in fields.items() if not isinstance(value, str) or not value]
        if missing:
            raise ExampleError(f"{where}: needs string keys {', '.join(missing)}")
        if fields["example"] != name:
            continue
        blobs.append(
            Blob(
                example=name,
                source=_relative(str(fields["source"]), where, "source"),
                output=_relative(str(fields["output"]), where, "output"),
            )
        )
    return blobs


def prepare_example(name: str, dest: Path, *, built: bool = False, jobs: int = 2) -> Path:
    """Copy example ``name`` to ``dest/name``, add its closed objects, and build it if asked.

    The copy always holds the closed objects that ``blobs.toml`` lists, compiled from
    ``_private`` with :data:`BLOB_CFLAGS`: that is the tree as its vendor shipped it. With
    ``built=True`` the copy is then built with ``minikbuild.mk`` (``make -j jobs``), which
    adds the objects, composite objects, ``.mod``/``.mod.c``/``.ko`` files, ``.cmd``
    records, ``modules.order`` and ``Module.symvers``. Returns the copy's path.
    """
    names = example_names()
    if name not in names:
        raise ExampleError(f"no example named {name!r}; the examples are: {', '.join(names)}")
    if jobs < 1:
        raise ExampleError(f"jobs must be at least 1, not {jobs}")

    blobs = blobs_for(name)
    needed = (*BUILD_TOOLS,) if built else (("gcc",) if blobs else ())
    _require_tools(needed)

    root = data_dir()
    target = Path(dest).absolute() / name
    if target.exists():
        raise ExampleError(f"{target} already exists; prepare the example into an empty place")
    blob_outputs = {blob.output.as_posix() for blob in blobs}
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(root / name, target, ignore=_ignore_outputs(root / name, blob_outputs))
        _make_writable(target)
    except OSError as exc:
        raise ExampleError(f"cannot copy example {name!r} to {target}: {exc}") from exc

    private = root / PRIVATE_DIR
    for blob in blobs:
        source = private / blob.source
        if not source.is_file():
            raise ExampleError(f"{source}: the source of {blob.output} is missing")
        output = target / blob.output
        output.parent.mkdir(parents=True, exist_ok=True)
        # Compiled from inside _private so that STT_FILE names the bare source file.
        _run(["gcc", *BLOB_CFLAGS, "-o", str(output), blob.source.as_posix()], cwd=private)

    if built:
        _run(
            [
                "make",
                "--no-print-directory",
                f"-j{jobs}",
                "-f",
                str(root / MAKEFILE),
                "-C",
                str(target),
                f"src={target}",
            ],
            cwd=target,
        )
    return target


def _relative(value: str, where: str, key: str) -> PurePosixPath:
    """A recipe path: relative, and never climbing out of its directory."""
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts:
        raise ExampleError(f"{where}: {key} {value!r} must be a relative path inside its tree")
    return path


def _ignore_outputs(top: Path, blob_outputs: set[str]) -> Callable[[str, list[str]], set[str]]:
    """A copytree ignore function that drops build outputs and stale closed objects."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        rel = Path(directory).relative_to(top)
        return {
            entry
            for entry in names
            if any(fnmatch.fnmatch(entry, pattern) for pattern in _BUILD_OUTPUTS)
            or (rel / entry).as_posix() in blob_outputs
        }

    return ignore


def _make_writable(tree: Path) -> None:
    """Let the owner write the copy: copytree keeps the modes of a read-only installation."""
    for path in (tree, *tree.rglob("*")):
        if not path.is_symlink():
            mode = path.stat().st_mode
            path.chmod(mode | stat.S_IWUSR | (stat.S_IXUSR if path.is_dir() else 0))


def _require_tools(tools: tuple[str, ...]) -> None:
    """Fail early, naming every missing tool, before anything is copied or built."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise ExampleError(
            f"{', '.join(missing)} not found on PATH: the example's closed object and its "
            "built form are compiled from source; install gcc, binutils (ld, nm, objdump) "
            "and make"
        )


def _run(command: list[str], *, cwd: Path) -> None:
    """Run one build command; a failure becomes an ExampleError with the command's stderr."""
    env = {k: v for k, v in os.environ.items() if k not in _MAKE_ENV}
    env["LC_ALL"] = "C"
    try:
        proc = subprocess.run(
            command,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=_SUBPROCESS_TIMEOUT,
            check=False,
        )
    except OSError as exc:
        raise ExampleError(f"cannot run {shlex.join(command)}: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise ExampleError(
            f"{shlex.join(command)} did not finish within {_SUBPROCESS_TIMEOUT} s"
        ) from exc
    if proc.returncode != 0:
        output = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        tail = "\n".join(output[-_STDERR_TAIL_LINES:]) or "(no output)"
        raise ExampleError(
            f"building the example failed (exit status {proc.returncode}) in {cwd}:\n"
            f"$ {shlex.join(command)}\n{tail}"
        )


#: An outer make's settings that must not leak into the example's build.
_MAKE_ENV = frozenset({"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEFILES", "MAKEOVERRIDES"})
