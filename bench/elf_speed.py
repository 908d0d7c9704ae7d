"""ELF readers on kernel modules: gplscan's direct reader vs pyelftools vs lief vs readelf.

gplscan's hot path on modules is symbols + ``.modinfo`` + exports. This runs each reader
over a directory of ``.ko`` files, every reader in a fresh interpreter (so its import cost
and memory are its own), and reports per reader: import time, wall and CPU time of the
loop over all modules (read + parse + facts, as ``object_facts`` does it), per-module
cost, peak RSS, and the ratios to the direct reader. It then checks that every reader produced
identical facts for every module and lists any difference.

    python -m bench.elf_speed                      # Debian's linux-image-amd64 modules
    python -m bench.elf_speed DIR --repeat 3 --readers direct,lief

Readers:

- ``direct``: ``gplscan.facts.elf.object_facts`` as shipped (struct-based, bounds-checked).
- ``pyelftools``: the same facts through ``object_facts(..., reader="pyelftools")``.
- ``lief``: lief 1.0 with a minimal ``ParserConfig`` (no relocations, dynamic symbols,
  symbol versions, notes or overlay). It runs after gplscan's header and section-table
  checks, as it would have to in production, and feeds the same fact extraction.
- ``lief-parse``: lief's parse and symbol walk alone, no checks and no facts (lief's floor).

``readelf`` rows (binutils, batch ``xargs -n200`` and one process per module) are timed
for reference, as in research/baseline.md rows 32-37.
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import Any

READERS = ("direct", "pyelftools", "lief", "lief-parse")


def default_module_dir() -> Path:
    """Debian's current linux-image-*-amd64 package, fetched and unpacked once."""
    from bench.debian_archive import depends, unpacked

    images = [p for p in depends("linux-image-amd64") if p.startswith("linux-image-")]
    if not images:
        raise SystemExit("linux-image-amd64 depends on no linux-image-* package")
    root = unpacked(images[0])
    (kernel,) = sorted((root / "lib" / "modules").glob("*/kernel"))
    return kernel


# --- the child: one reader over every module -----------------------------------------------


def _lief_config() -> Any:
    import lief

    lief.logging.disable()
    config = lief.ELF.ParserConfig()
    config.parse_relocations = False
    config.parse_dyn_symbols = False
    config.parse_symbol_versions = False
    config.parse_notes = False
    config.parse_overlay = False
    config.parse_symtab_symbols = True
    return config


def _lief_facts(config: Any) -> Any:
    """object_facts with lief reading sections and symbols (after gplscan's checks)."""
    import lief

    from gplscan.errors import ObjectParseError
    from gplscan.facts.elf import facts_from_reading
    from gplscan.facts.elf_format import (
        GLOBAL_BINDINGS,
        SHN_LORESERVE,
        STT_FILE,
        ElfReading,
        SectionHeader,
        read_header,
        read_section_table,
    )
    from gplscan.facts.kernel_exports import LABEL_PREFIXES

    def facts(path: Path, rel: PurePosixPath, data: bytes) -> Any:
        where = str(rel)
        header = read_header(data, where)
        read_section_table(data, where, header)  # lief answers silently on broken tables
        binary = lief.ELF.parse(data, config)
        if binary is None:
            raise ObjectParseError(where, "lief could not parse it")
        sections = [
            SectionHeader(
                s.name,
                int(s.type),
                int(s.flags),
                s.virtual_address,
                s.offset,
                s.size,
                s.link,
                s.information,
                s.entry_size,
            )
            for s in binary.sections
        ]
        symbols = []
        for sym in binary.symtab_symbols:
            name = sym.name
            stype = int(sym.type)
            bind = int(sym.binding)
            if (
                bind not in GLOBAL_BINDINGS
                and stype != STT_FILE
                and not name.startswith(LABEL_PREFIXES)
            ):
                continue
            shndx = sym.shndx
            symbols.append((name, stype, bind, -1 if shndx >= SHN_LORESERVE else shndx, sym.value))
        return facts_from_reading(data, where, rel, header, ElfReading(sections, symbols))

    return facts


def child(reader: str, listing: Path, out: Path, keep: bool) -> None:
    """Run one reader over the listed modules; pickle timings (and, if ``keep``, the facts
    of every module) into ``out``."""
    paths = [Path(p) for p in listing.read_text().splitlines() if p]
    started = time.perf_counter()
    if reader in ("direct", "pyelftools"):
        from gplscan.errors import ObjectParseError
        from gplscan.facts.elf import object_facts

        if reader == "pyelftools":
            import elftools.elf.elffile  # noqa: F401  (what the reader imports on first use)

        def run(path: Path, rel: PurePosixPath, data: bytes) -> Any:
            return object_facts(path, rel, data, reader=reader)  # type: ignore[arg-type]

    elif reader == "lief":
        from gplscan.errors import ObjectParseError

        run = _lief_facts(_lief_config())
    elif reader == "lief-parse":
        import lief

        from gplscan.errors import ObjectParseError

        config = _lief_config()

        def run(path: Path, rel: PurePosixPath, data: bytes) -> Any:
            binary = lief.ELF.parse(data, config)
            symbols = [(s.name, s.type, s.binding, s.shndx, s.value) for s in binary.symtab_symbols]
            section = binary.get_section(".modinfo")
            return len(symbols), None if section is None else bytes(section.content)

    else:
        raise SystemExit(f"unknown reader {reader}")
    imported = time.perf_counter() - started
    results: dict[str, Any] = {}
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for path in paths:
        data = path.read_bytes()
        try:
            facts = run(path, PurePosixPath(path.name), data)
        except ObjectParseError as exc:
            facts = f"error: {exc.reason}"
        if keep:
            results[str(path)] = facts
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    payload = {"import": imported, "wall": wall, "cpu": cpu, "maxrss_mb": maxrss_mb}
    payload["facts"] = results if reader != "lief-parse" else {}
    payload["kept"] = keep
    out.write_bytes(pickle.dumps(payload, 5))


# --- the parent: run, time, compare ----------------------------------------------------------


def run_reader(reader: str, listing: Path, scratch: Path, keep: bool) -> dict[str, Any]:
    out = scratch / f"{reader}.pickle"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.elf_speed",
            "--child",
            reader,
            str(listing),
            str(out),
            "keep" if keep else "-",
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{reader} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = pickle.loads(out.read_bytes())
    return result


def time_command(argv: list[str], stdin: bytes | None = None) -> tuple[float, float]:
    """Wall and CPU (children's user+sys) seconds of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def readelf_rows(paths: list[Path]) -> list[tuple[str, float, float]]:
    listing = b"\0".join(str(p).encode() for p in paths)
    rows = []
    for label, args in (
        ("readelf -sW, batch of 200", ["readelf", "-sW"]),
        ("readelf -W -p .modinfo, batch of 200", ["readelf", "-W", "-p", ".modinfo"]),
    ):
        wall, cpu = time_command(["xargs", "-0", "-n200", *args], stdin=listing)
        rows.append((label, wall, cpu))
    for label, args in (
        ("readelf -sW, one process per module", ["readelf", "-sW"]),
        ("readelf -W -p .modinfo, one process per module", ["readelf", "-W", "-p", ".modinfo"]),
    ):
        wall, cpu = time_command(["xargs", "-0", "-n1", *args], stdin=listing)
        rows.append((label, wall, cpu))
    return rows


def compare(facts: dict[str, dict[str, Any]], limit: int = 10) -> list[str]:
    """Differences between readers, module by module (the first reader is the reference)."""
    lines: list[str] = []
    names = list(facts)
    if len(names) < 2:
        return lines
    reference = names[0]
    for other in names[1:]:
        differing = 0
        for path, mine in facts[reference].items():
            theirs = facts[other].get(path, "<missing>")
            if mine == theirs:
                continue
            differing += 1
            if differing <= limit:
                if isinstance(mine, str) or isinstance(theirs, str):
                    detail = f"{str(mine)[:120]!r} vs {str(theirs)[:120]!r}"
                else:
                    fields = [f for f in mine.__slots__ if getattr(mine, f) != getattr(theirs, f)]
                    detail = ", ".join(
                        f"{f}: {str(getattr(mine, f))[:100]} vs {str(getattr(theirs, f))[:100]}"
                        for f in fields
                    )
                lines.append(f"  {reference} vs {other}: {path}: {detail}")
        lines.append(
            f"{reference} vs {other}: {differing} of {len(facts[reference])} modules differ"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", nargs="?", type=Path, help="where the .ko files are")
    parser.add_argument("--readers", default=",".join(READERS))
    parser.add_argument("--repeat", type=int, default=3, help="runs per reader (median kept)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N modules")
    parser.add_argument("--no-readelf", action="store_true")
    parser.add_argument(
        "--child", nargs=4, metavar=("READER", "LIST", "OUT", "KEEP"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]), args.child[3] == "keep")
        return
    directory = args.directory or default_module_dir()
    paths = sorted(directory.rglob("*.ko"))
    if args.limit:
        paths = paths[: args.limit]
    if not paths:
        raise SystemExit(f"no .ko files under {directory}")
    total = sum(p.stat().st_size for p in paths)
    for p in paths:  # warm the page cache: compare parsers, not the disk
        p.read_bytes()
    print(f"{len(paths)} modules, {total / 1e6:.1f} MB, under {directory}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    readers = [r for r in args.readers.split(",") if r]
    facts: dict[str, dict[str, Any]] = {}
    rows = []
    with tempfile.TemporaryDirectory(prefix="elf-speed-") as tmp:
        scratch = Path(tmp)
        listing = scratch / "modules.txt"
        listing.write_text("\n".join(str(p) for p in paths))
        for reader in readers:
            # the first run keeps every module's facts for the comparison; the others do
            # not, so that their peak RSS is the reader's own
            runs = [run_reader(reader, listing, scratch, i == 0) for i in range(args.repeat)]
            if runs[0]["facts"]:
                facts[reader] = runs[0]["facts"]
            lean = [r for r in runs if not r["kept"]] or runs
            rows.append(
                (
                    reader,
                    statistics.median(r["import"] for r in runs),
                    statistics.median(r["wall"] for r in runs),
                    statistics.median(r["cpu"] for r in runs),
                    max(r["maxrss_mb"] for r in lean),
                    [round(r["wall"], 2) for r in runs],
                )
            )
    # ratios are to the hot path (direct) when it ran, else to the fastest reader
    base = next((row for row in rows if row[0] == "direct"), min(rows, key=lambda row: row[2]))
    print()
    print(
        f"{'reader':<12} {'import s':>8} {'loop wall s':>11} {'loop CPU s':>10} "
        f"{'ms/module':>9} {'modules/s':>9} {'wall x':>7} {'CPU x':>7} {'max RSS MB':>10}  runs"
    )
    for reader, imported, wall, cpu, rss, walls in rows:
        print(
            f"{reader:<12} {imported:8.3f} {wall:11.2f} {cpu:10.2f} "
            f"{1000 * wall / len(paths):9.3f} {len(paths) / wall:9.0f} {wall / base[2]:7.2f} "
            f"{cpu / base[3]:7.2f} {rss:10.0f}  {walls}"
        )
    print(f"(wall x, CPU x: relative to {base[0]}; medians of {args.repeat} runs)")
    if not args.no_readelf:
        print()
        for label, wall, cpu in readelf_rows(paths):
            print(
                f"{label:<48} wall {wall:6.2f} s  CPU {cpu:6.2f} s  "
                f"{1000 * wall / len(paths):6.3f} ms/module"
            )
    print()
    errors = {r: sum(isinstance(v, str) for v in f.values()) for r, f in facts.items()}
    print("modules each reader could not read: " + ", ".join(f"{r} {n}" for r, n in errors.items()))
    for line in compare(facts):
        print(line)


if __name__ == "__main__":
    main()
