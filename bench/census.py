"""Census of Debian bookworm's ``*-dkms`` packages: build each, audit the .deb and the builds.

    .venv/bin/python -m bench.census                 # everything (resumable)
    .venv/bin/python -m bench.census --audit-only    # re-audit with today's gplscan
    .venv/bin/python -m bench.census --only zfs-dkms --only r8168-dkms

Issue 12 item 9. Everything it downloads, unpacks and builds goes under the census
directory (``$GPLSCAN_CENSUS_DIR``, else ``$GPLSCAN_BENCH_CACHE/census`` when that is set,
else ``/work/census``); nothing is installed on the machine and no dkms state is touched.

1. **Packages.** A private apt state (``<census>/apt``, same options as
   :mod:`bench.debian_archive`: the archive's address read from the system's sources, never
   written here) over bookworm, bookworm-updates and bookworm-backports, components main,
   contrib, non-free. Every binary package of bookworm or bookworm-updates (not backports)
   whose name ends in ``-dkms`` is listed from the Packages indexes, its newest version
   downloaded into ``<census>/debs`` and unpacked (``dpkg-deb -x``) into
   ``<census>/unpacked/<deb stem>``.

2. **Kernels.** Two kernels' headers: bookworm's ``linux-headers-amd64`` (6.1) and
   bookworm-backports' ``linux-headers-amd64`` (6.12). The headers are *not* installed
   (``apt-get install`` would pull a kernel image, systemd, initramfs-tools onto a shared
   machine): the flavour package, its ``-common`` package and ``linux-kbuild-*`` are
   unpacked with ``dpkg-deb -x`` into one private root per kernel, ``<census>/kroot-6.1``
   and ``<census>/kroot-6.12``, and the only absolute references are fixed: the flavour
   Makefile's ``include /usr/src/linux-headers-*-common/Makefile`` is pointed into the
   root and ``lib/modules/<ver>/{build,source}`` are made relative. Both kernels'
   ``.kernelvariables`` set ``CC = x86_64-linux-gnu-gcc-12``, bookworm's gcc, so no
   compiler override is needed. Some Makefiles ignore dkms's variables and use
   ``/lib/modules/$(uname -r or KVER)/{build,source}``: those two links (only those) are
   made on the machine, pointing into the private root, where no such link exists. 6.12's kbuild
   runs ``pahole`` (BTF) on every module: bookworm's ``pahole`` package is unpacked into
   ``<census>/tools`` and put first on PATH (its libraries, libdw1, libelf1, libbpf1, are
   the machine's).

3. **Builds.** For each package, kernel and ``usr/src/<module>-<version>/dkms.conf``, the
   way dkms 3.0.10 (bookworm's) builds: the tree is copied to
   ``<census>/build/<kernel>/dkms/<module>/<version>/build`` (so ``$dkms_tree`` is
   ``<census>/build/<kernel>/dkms``, ``$source_tree`` the unpacked ``usr/src``), dkms.conf
   is sourced by bash with ``kernelver``, ``arch``, ``kernel_source_dir`` (the link
   ``/lib/modules/<ver>/build``, as dkms sets it), ``dkms_tree``, ``source_tree``,
   ``module``, ``module_version`` set and its values re-read through dkms's unquoted echo
   (blanks and newlines collapse), ``BUILD_EXCLUSIVE_KERNEL/ARCH/
   CONFIG`` are checked (a mismatch is recorded as ``excluded``), ``PATCH[]`` (with
   ``PATCH_MATCH[]``) applied with ``patch -p1``, ``PRE_BUILD`` run with ``CC`` from the
   kernel's ``CONFIG_CC_VERSION_TEXT``, the ``CLEAN`` command run, then ``MAKE[0]`` (or the
   ``MAKE_MATCH[]`` entry, or ``make -C $kernel_source_dir M=$dkms_tree/$module/
   $module_version/build``) with its leading ``make`` turned into ``make -j2
   KERNELRELEASE=$kernelver`` and ``CC`` from ``.kernelvariables``, under a 10-minute
   timeout. A build is ``ok`` when make exits 0 and every ``BUILT_MODULE_LOCATION[]
   BUILT_MODULE_NAME[].ko`` exists. A package whose declared build needs this machine
   lacks (``BUILD_DEPS``: iptables-netflow's libxtables-dev) gets them unpacked into
   ``<census>/deps`` and found through CPATH and pkg-config; other missing needs are
   recorded as the failure they cause. Each result is kept in ``<census>/build/<kernel>/
   <package>.json`` with the log's tail; a build already recorded is not redone
   (``--rebuild`` redoes it).

4. **Audits.** ``gplscan audit <deb> --format json`` and, for each build that left a
   tree, ``gplscan audit <build dir> --kernel <headers dir> --format json``, each with a
   timeout, ``-j 2`` and a cache of its own (``<census>/gplscan-cache``; ``--no-cache``
   reads every file). Reports and their exit codes and times go to
   ``<census>/reports/<package>/``.

5. **Facts** read straight from each unpacked source tree, for checking gplscan by hand:
   ELF relocatable objects and ar archives shipped in the tree (with whether a ``.c`` of
   the same stem exists), every ``MODULE_LICENSE(...)`` with file:line, and every
   ``symbol_get``/``__symbol_get``/``symbol_request``/``kallsyms_lookup_name`` use.

The markdown table goes to standard output, everything to ``<census>/results.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.debian_archive import COMPONENTS, ArchiveError, _apt_options, archive_uri

SUITES = ("bookworm", "bookworm-updates")
BACKPORTS = "bookworm-backports"
CENSUS_COMPONENTS = ("main", "contrib", "non-free")
# kernel tag -> suite its linux-headers-amd64 comes from
KERNELS = {"6.1": "bookworm", "6.12": BACKPORTS}
BUILD_TIMEOUT = 600
JOBS = 2
DEFAULT_GPLSCAN = "/work/main/.venv/bin/gplscan"
ARCH = "x86_64"
LOG_TAIL = 25

Json = dict[str, Any]


def census_dir() -> Path:
    if os.environ.get("GPLSCAN_CENSUS_DIR"):
        return Path(os.environ["GPLSCAN_CENSUS_DIR"])
    if os.environ.get("GPLSCAN_BENCH_CACHE"):
        return Path(os.environ["GPLSCAN_BENCH_CACHE"]) / "census"
    return Path("/work/census")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- apt


class Archive:
    """The private apt state: bookworm, -updates and -backports; Packages read once."""

    def __init__(self, root: Path) -> None:
        self.state = root / "apt"
        self.options = self._prepare()
        self._packages: dict[tuple[str, str], dict[str, Json]] = {}

    def _prepare(self) -> list[str]:
        uri, _suite = archive_uri()
        state = self.state
        (state / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (state / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        (state / "status").touch()
        sources = "".join(f"deb {uri} {suite} {COMPONENTS}\n" for suite in (*SUITES, BACKPORTS))
        (state / "sources.list").write_text(sources)
        options = _apt_options(state)
        stamp = state / "lists" / ".updated"
        if not stamp.exists():
            proc = subprocess.run(["apt-get", *options, "update"], capture_output=True, text=True)
            if proc.returncode != 0:
                raise ArchiveError(f"apt-get update failed: {proc.stderr.strip()[-500:]}")
            stamp.touch()
        return options

    def packages(self, suite: str, component: str) -> dict[str, Json]:
        """name -> stanza (newest version) of ``suite``/``component``'s amd64 index."""
        key = (suite, component)
        if key not in self._packages:
            found: dict[str, Json] = {}
            lists = self.state / "lists"
            for path in sorted(lists.glob(f"*_dists_{suite}_{component}_binary-amd64_Packages*")):
                text = subprocess.run(
                    ["/usr/lib/apt/apt-helper", "cat-file", str(path)],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                for block in text.split("\n\n"):
                    stanza = _stanza(block)
                    name = stanza.get("Package")
                    if not name:
                        continue
                    old = found.get(name)
                    if old is None or _newer(stanza["Version"], old["Version"]):
                        found[name] = stanza
            self._packages[key] = found
        return self._packages[key]

    def dkms_packages(self) -> list[Json]:
        """Every ``*-dkms`` package of bookworm (+updates), newest version, with component."""
        chosen: dict[str, Json] = {}
        for suite in SUITES:
            for component in CENSUS_COMPONENTS:
                for name, stanza in self.packages(suite, component).items():
                    if not name.endswith("-dkms"):
                        continue
                    entry = {**stanza, "Suite": suite, "Component": component}
                    old = chosen.get(name)
                    if old is None or _newer(entry["Version"], old["Version"]):
                        chosen[name] = entry
        return [chosen[name] for name in sorted(chosen)]

    def stanza(self, suite: str, name: str) -> Json:
        for component in CENSUS_COMPONENTS:
            found = self.packages(suite, component).get(name)
            if found:
                return found
        raise ArchiveError(f"{name} is not in {suite}")

    def download(self, name: str, version: str, into: Path) -> Path:
        into.mkdir(parents=True, exist_ok=True)
        pattern = f"{name}_{version.replace(':', '%3a')}_*.deb"
        found = sorted(into.glob(pattern))
        if found:
            return found[-1]
        proc = subprocess.run(
            ["apt-get", *self.options, "download", f"{name}={version}"],
            capture_output=True,
            text=True,
            cwd=into,
        )
        found = sorted(into.glob(pattern))
        if proc.returncode != 0 or not found:
            raise ArchiveError(
                f"apt-get download {name}={version} failed: {proc.stderr.strip()[-500:]}"
            )
        return found[-1]


def _stanza(block: str) -> Json:
    fields: Json = {}
    for m in re.finditer(r"^([\w.-]+):[ \t]*(.*)$", block, re.MULTILINE):
        if m.group(1) in ("Package", "Version", "Depends", "Source", "Filename", "Section"):
            fields[m.group(1)] = m.group(2)
    return fields


def _newer(a: str, b: str) -> bool:
    if a == b:
        return False
    return subprocess.run(["dpkg", "--compare-versions", a, "gt", b]).returncode == 0


def unpack(deb: Path, target: Path) -> Path:
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
        (target / ".complete").touch()
    return target


# ---------------------------------------------------------------------------- kernels


@dataclass(frozen=True)
class Kernel:
    tag: str  # 6.1 | 6.12
    release: str  # e.g. 6.1.0-50-amd64 (kernelver)
    version: str  # the Debian package version
    build_dir: Path  # the headers' build dir: kernel_source_dir, --kernel for gplscan
    packages: tuple[str, ...]


def _depends_names(stanza: Json) -> list[str]:
    return [
        dep.split("|")[0].strip().split(" ")[0]
        for dep in stanza.get("Depends", "").split(",")
        if dep.strip()
    ]


def prepare_kernel(archive: Archive, root: Path, tag: str, suite: str) -> Kernel:
    """The headers of ``suite``'s linux-headers-amd64, unpacked into a private root."""
    meta = archive.stanza(suite, "linux-headers-amd64")
    flavour_name = next(d for d in _depends_names(meta) if d.startswith("linux-headers-"))
    flavour = archive.stanza(suite, flavour_name)
    wanted = [
        flavour_name,
        *(d for d in _depends_names(flavour) if d.startswith(("linux-headers-", "linux-kbuild-"))),
    ]
    release = flavour_name.removeprefix("linux-headers-")
    kroot = root / f"kroot-{tag}"
    build_dir = kroot / "usr" / "src" / flavour_name
    if not (kroot / ".complete").exists():
        shutil.rmtree(kroot, ignore_errors=True)
        kroot.mkdir(parents=True)
        for name in wanted:
            stanza = archive.stanza(suite, name)
            deb = archive.download(name, stanza["Version"], root / "debs-kernel")
            subprocess.run(["dpkg-deb", "-x", str(deb), str(kroot)], check=True)
        makefile = build_dir / "Makefile"
        makefile.write_text(
            re.sub(
                r"^include /usr/src/",
                f"include {kroot}/usr/src/",
                makefile.read_text(),
                flags=re.MULTILINE,
            )
        )
        for link in (kroot / "lib" / "modules").glob("*/*"):
            if link.is_symlink() and os.readlink(link).startswith("/"):
                target = kroot / os.readlink(link).lstrip("/")
                link.unlink()
                link.symlink_to(os.path.relpath(target, link.parent))
        (kroot / ".complete").touch()
    system_link(release, "build", build_dir)
    system_link(release, "source", build_dir.parent / build_dir.name.replace("-amd64", "-common"))
    return Kernel(tag, release, flavour["Version"], build_dir, tuple(wanted))


def system_link(release: str, name: str, target: Path) -> None:
    """/lib/modules/<release>/{build,source} -> the private headers, as installed headers are.

    Some Makefiles (broadcom-sta, nvidia, ...) hard-code /lib/modules/$KVER/build or
    source; these links are the census's only writes outside its directory, made only
    where none exists.
    """
    link = Path("/lib/modules") / release / name
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return
    if link.exists() or link.is_symlink():
        log(f"warning: {link} exists and is not ours; Makefiles that use it get that one")
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


def prepare_tools(archive: Archive, root: Path) -> Path:
    """bookworm's pahole (linux-kbuild-6.12 runs it), unpacked; returns its bin dir."""
    tools = root / "tools"
    if not (tools / ".complete").exists():
        stanza = archive.stanza("bookworm", "pahole")
        deb = archive.download("pahole", stanza["Version"], root / "debs-kernel")
        tools.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tools)], check=True)
        (tools / ".complete").touch()
    return tools / "usr" / "bin"


# ---------------------------------------------------------------------------- dkms

# Sources dkms.conf as dkms 3.0.10 does (read_conf, prepare_build, actual_build) and either
# prints its settings (info) or builds (build). Arguments: mode conf kernelver
# kernel_source_dir dkms_tree source_tree module module_version jobs.
DKMS_DRIVER = r"""
mode=$1; conf=$2; kernelver=$3; kernel_source_dir=$4; dkms_tree=$5; source_tree=$6
module=$7; module_version=$8; parallel_jobs=$9
arch=__ARCH__
kernel_config="$kernel_source_dir/.config"
build_dir="$dkms_tree/$module/$module_version/build"
vars="CLEAN PACKAGE_NAME PACKAGE_VERSION PRE_BUILD POST_BUILD BUILD_EXCLUSIVE_KERNEL
 BUILD_EXCLUSIVE_ARCH BUILD_EXCLUSIVE_CONFIG MAKE MAKE_MATCH PATCH PATCH_MATCH
 BUILT_MODULE_NAME BUILT_MODULE_LOCATION DEST_MODULE_NAME DEST_MODULE_LOCATION AUTOINSTALL
 BUILD_DEPENDS"
for v in $vars; do unset $v; done
# dkms's safe_source, verbatim in effect: the values are echoed (unquoted, so runs of
# blanks and newlines become one space and quotes inside them are eaten) and read back
tmp=$(mktemp)
( exec >"$tmp"
  . "$conf" >/dev/null
  for _export_env in $vars; do
    for _i in $(eval echo \${!$_export_env[@]}); do
      eval echo '$_export_env[$_i]=\"${'$_export_env'[$_i]}\"'
    done
  done )
. "$tmp"
rm -f "$tmp"
make_command=""
[[ ${MAKE_MATCH[0]} ]] || make_command="${MAKE[0]}"
for ((i=0; i < ${#MAKE[@]}; i++)); do
  [[ ${MAKE[$i]} && ${MAKE_MATCH[$i]} && $kernelver =~ ${MAKE_MATCH[$i]} ]] && \
    make_command="${MAKE[$i]}"
done
[[ $make_command ]] || make_command="make -C $kernel_source_dir M=$build_dir"
clean="$CLEAN"
[[ $clean ]] || clean="make -C $kernel_source_dir M=$build_dir clean"
patch_array=()
for ((i=0; i < ${#PATCH[@]}; i++)); do
  [[ ${PATCH[$i]} && (! ${PATCH_MATCH[$i]} || $kernelver =~ ${PATCH_MATCH[$i]}) ]] && \
    patch_array+=("${PATCH[$i]}")
done
build_exclude=""
[[ $BUILD_EXCLUSIVE_KERNEL && ! $kernelver =~ $BUILD_EXCLUSIVE_KERNEL ]] && \
  build_exclude="kernel $kernelver does not match BUILD_EXCLUSIVE_KERNEL=$BUILD_EXCLUSIVE_KERNEL"
[[ $BUILD_EXCLUSIVE_ARCH && ! $arch =~ $BUILD_EXCLUSIVE_ARCH ]] && \
  build_exclude="arch $arch does not match BUILD_EXCLUSIVE_ARCH=$BUILD_EXCLUSIVE_ARCH"
if [[ $BUILD_EXCLUSIVE_CONFIG && -e $kernel_config ]]; then
  for kconf in $BUILD_EXCLUSIVE_CONFIG; do
    case "$kconf" in
      !*) grep -q -E "^${kconf#!}=[ym]" "$kernel_config" && build_exclude="config has ${kconf#!}" ;;
      *) grep -q -E "^${kconf}=[ym]" "$kernel_config" || build_exclude="config lacks $kconf" ;;
    esac
  done
fi
n=${#BUILT_MODULE_NAME[@]}
for s in ${#BUILT_MODULE_LOCATION[@]} ${#DEST_MODULE_NAME[@]} ${#DEST_MODULE_LOCATION[@]}; do
  ((s > n)) && n=$s
done
built=()
for ((i=0; i < n; i++)); do
  name=${BUILT_MODULE_NAME[$i]}
  [[ ! $name ]] && ((${#DEST_MODULE_LOCATION[@]} == 1)) && name=$PACKAGE_NAME
  loc=${BUILT_MODULE_LOCATION[$i]}
  [[ $loc && ${loc:(-1)} != / ]] && loc="$loc/"
  built+=("$loc$name")
done

if [[ $mode == info ]]; then
  emit() { local key=$1; shift; local v; for v in "$@"; do printf '%s\0%s\0' "$key" "$v"; done; }
  emit package_name "$PACKAGE_NAME"; emit package_version "$PACKAGE_VERSION"
  emit make_command "$make_command"; emit clean "$clean"; emit pre_build "$PRE_BUILD"
  emit exclude "$build_exclude"; emit patches "${patch_array[@]}"; emit built "${built[@]}"
  emit build_depends "${BUILD_DEPENDS[@]}"
  exit 0
fi

cd "$build_dir" || exit 90
for p in "${patch_array[@]}"; do
  echo "CENSUS: applying patch $p"
  [[ -e $build_dir/patches/$p ]] || { echo "CENSUS-FAIL: patch $p not found"; exit 5; }
  patch -p1 < "./patches/$p" || { echo "CENSUS-FAIL: patch $p did not apply"; exit 6; }
done
if [[ -e $kernel_config ]]; then
  cc=$(sed -n 's|^CONFIG_CC_VERSION_TEXT="\([^ ]*\) .*"|\1|p' "$kernel_config")
  command -v "$cc" >/dev/null && export CC="$cc"
fi
if [[ $PRE_BUILD ]]; then
  run="$build_dir/$PRE_BUILD"
  if [[ -x ${run%% *} ]]; then
    echo "CENSUS: PRE_BUILD $PRE_BUILD"
    ( cd "$build_dir" && exec $run ) || echo "CENSUS: PRE_BUILD exited $?"
  else
    echo "CENSUS: PRE_BUILD script $PRE_BUILD is not executable"
  fi
fi
if [[ -f $kernel_source_dir/.kernelvariables ]]; then
  export CC=$(echo -e "show-%:\n\t@echo \$(\$*)\ninclude $kernel_source_dir/.kernelvariables" \
              | make -f - show-CC)
else
  unset CC
fi
echo "CENSUS: CC=$CC"
echo "CENSUS: clean: $clean"
(eval "$clean") >/dev/null 2>&1
the_make_command="${make_command/#make/make -j$parallel_jobs KERNELRELEASE=$kernelver}"
echo "CENSUS: make: $the_make_command"
( eval "{ $the_make_command; }" ) 2>&1
rc=$?
if ((rc != 0)); then echo "CENSUS-FAIL: make exited $rc"; exit 10; fi
missing=0
for m in "${built[@]}"; do
  [[ -e $m.ko ]] || { echo "CENSUS-FAIL: $m.ko was not built"; missing=1; }
done
((missing)) && exit 7
echo "CENSUS: built ${built[*]}"
exit 0
""".replace("__ARCH__", ARCH)


@dataclass(frozen=True)
class Tree:
    """One ``usr/src/<module>-<version>`` tree with a dkms.conf."""

    package: str
    source: Path  # the unpacked tree
    module: str
    module_version: str


def dkms_trees(package: str, unpacked_root: Path) -> list[Tree]:
    trees = []
    for conf in sorted((unpacked_root / "usr" / "src").glob("*/dkms.conf")):
        info = dkms_info(
            conf, "0", Path("/nonexistent"), Path("/nonexistent"), conf.parent.parent, "", ""
        )
        name = (info.get("package_name") or [""])[0]
        version = (info.get("package_version") or [""])[0]
        if not name or conf.parent.name != f"{name}-{version}":
            # dkms registers <module>-<version> dirs; fall back to the directory's name
            m = re.match(r"(.+?)-(\d.*)$", conf.parent.name)
            name, version = (m.group(1), m.group(2)) if m else (conf.parent.name, "0")
        trees.append(Tree(package, conf.parent, name, version))
    return trees


def dkms_info(
    conf: Path,
    kernelver: str,
    kernel_source_dir: Path,
    dkms_tree: Path,
    source_tree: Path,
    module: str,
    module_version: str,
) -> dict[str, list[str]]:
    proc = subprocess.run(
        [
            "bash",
            "-c",
            DKMS_DRIVER,
            "dkms-census",
            "info",
            str(conf),
            kernelver,
            str(kernel_source_dir),
            str(dkms_tree),
            str(source_tree),
            module,
            module_version,
            str(JOBS),
        ],
        capture_output=True,
        cwd=conf.parent,
        timeout=60,
    )
    out: dict[str, list[str]] = {}
    parts = proc.stdout.decode(errors="replace").split("\0")
    for key, value in zip(parts[0::2], parts[1::2], strict=False):
        if value:
            out.setdefault(key, []).append(value)
    return out


# Build dependencies a package declares (Depends) that this machine lacks: unpacked into
# <census>/deps and found through the compiler's and pkg-config's search paths
BUILD_DEPS = {"iptables-netflow-dkms": ("libxtables-dev", "libxtables12")}


def prepare_deps(archive: Archive, root: Path, names: tuple[str, ...]) -> dict[str, str]:
    deps = root / "deps"
    for name in names:
        stanza = archive.stanza("bookworm", name)
        deb = archive.download(name, stanza["Version"], root / "deps-debs")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(deps)], check=True)
    return {
        "CPATH": str(deps / "usr" / "include"),
        "PKG_CONFIG_PATH": str(deps / "usr" / "lib" / "x86_64-linux-gnu" / "pkgconfig"),
        "PKG_CONFIG_SYSROOT_DIR": str(deps),
    }


def build(
    tree: Tree, kernel: Kernel, root: Path, tools_bin: Path, extra_env: dict[str, str] | None = None
) -> Json:
    """Build ``tree`` for ``kernel`` the way dkms does; the result, with the log's tail."""
    dkms_tree = root / "build" / kernel.tag / "dkms"
    base = dkms_tree / tree.module / tree.module_version
    build_dir = base / "build"
    conf = tree.source / "dkms.conf"
    # dkms's kernel_source_dir is /lib/modules/<ver>/build (zfs's dkms.conf turns its
    # "build" into "source" to find the -common headers): that link, where it is ours
    link = Path("/lib/modules") / kernel.release / "build"
    ksrc = (
        link
        if link.is_symlink() and link.resolve() == kernel.build_dir.resolve()
        else kernel.build_dir
    )
    info = dkms_info(
        conf, kernel.release, ksrc, dkms_tree, tree.source.parent, tree.module, tree.module_version
    )
    result: Json = {
        "tree": f"{tree.module}-{tree.module_version}",
        "kernel": kernel.release,
        "build_dir": str(build_dir),
        "built_modules": info.get("built", []),
        "make_command": (info.get("make_command") or [""])[0],
        "patches": info.get("patches", []),
        "pre_build": (info.get("pre_build") or [""])[0],
    }
    if info.get("exclude"):
        return {**result, "status": "excluded", "reason": info["exclude"][0], "log_tail": []}
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    (base / "source").symlink_to(tree.source)
    shutil.copytree(tree.source, build_dir, symlinks=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS", "CC"))}
    env["PATH"] = f"{tools_bin}:{env.get('PATH', '/usr/bin:/bin')}"
    env.update(extra_env or {})
    log_path = base / f"census-build-{kernel.tag}.log"
    start = time.monotonic()
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [
                "bash",
                "-c",
                DKMS_DRIVER,
                "dkms-census",
                "build",
                str(conf),
                kernel.release,
                str(ksrc),
                str(dkms_tree),
                str(tree.source.parent),
                tree.module,
                tree.module_version,
                str(JOBS),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=build_dir,
            env=env,
            start_new_session=True,
        )
        try:
            rc = proc.wait(timeout=BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = -1
    seconds = round(time.monotonic() - start, 1)
    text = log_path.read_text(errors="replace")
    lines = text.splitlines()
    found = [m for m in result["built_modules"] if (build_dir / f"{m}.ko").exists()]
    if rc == 0:
        status, reason = "ok", ""
    elif rc == -1:
        status, reason = "failed", f"timeout after {BUILD_TIMEOUT} s"
    else:
        status, reason = "failed", _failure_reason(lines, rc)
    return {
        **result,
        "status": status,
        "reason": reason,
        "exit": rc,
        "seconds": seconds,
        "modules_found": found,
        "log": str(log_path),
        "log_tail": lines[-LOG_TAIL:],
    }


FAILURE_PATTERNS = (
    r"\berror:|fatal error",
    r"\*\*\* No rule|No such file",
    r"not found",
    r"Error \d+$",
)


def _failure_reason(lines: list[str], rc: int) -> str:
    """The CENSUS-FAIL marker and the log's first line of the most telling kind."""
    markers = [line for line in lines if line.startswith("CENSUS-FAIL")]
    # make's own errors, not those of the configure tests PRE_BUILD runs before it
    start = next((i for i, line in enumerate(lines) if line.startswith("CENSUS: make:")), 0)
    first = ""
    for pattern in FAILURE_PATTERNS:
        errors = [
            line.strip()
            for line in lines[start:]
            if re.search(pattern, line)
            and not line.startswith("CENSUS")
            and "/cc-test-build/" not in line
        ]  # ipt-netflow's feature probes
        if errors:
            first = errors[0]
            break
    marker = markers[0].removeprefix("CENSUS-FAIL: ") if markers else f"exit {rc}"
    reason = f"{marker}: {first}" if first else marker
    for i, line in enumerate(lines):
        if line.startswith("CENSUS: PRE_BUILD exited"):
            said = [x.strip() for x in lines[:i] if x.strip() and not x.startswith("CENSUS")]
            reason = f"PRE_BUILD failed ({said[-1] if said else line}); then {reason}"
            break
    return reason[:400]


# ---------------------------------------------------------------------------- facts

ELF_REL = 1
LICENSE_RE = re.compile(rb"MODULE_LICENSE\s*\(\s*(.*?)\s*\)\s*;", re.DOTALL)
SYMGET_RE = re.compile(rb"\b(__symbol_get|symbol_get|symbol_request|kallsyms_lookup_name)\s*\(")
GPL_COMPATIBLE = {
    "GPL",
    "GPL v2",
    "GPL and additional rights",
    "Dual BSD/GPL",
    "Dual MIT/GPL",
    "Dual MPL/GPL",
}
SOURCE_SUFFIXES = (".c", ".h", ".S", ".cc", ".cpp")


def facts(tree: Path) -> Json:
    """What a hand check looks for, read from the unpacked source tree."""
    objects: list[Json] = []
    licenses: list[Json] = []
    symget: list[Json] = []
    stems = {p.name.split(".")[0] for p in tree.rglob("*") if p.suffix in (".c", ".S")}
    for path in sorted(tree.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        rel = str(path.relative_to(tree))
        with path.open("rb") as f:
            head = f.read(20)
        if head[:4] == b"\x7fELF":
            etype = int.from_bytes(head[16:18], "little")
            objects.append(
                {
                    "path": rel,
                    "kind": {1: "REL", 2: "EXEC", 3: "DYN"}.get(etype, "?"),
                    "bytes": path.stat().st_size,
                    "source_of_same_stem": path.name.split(".")[0] in stems,
                }
            )
        elif head[:8] == b"!<arch>\n":
            objects.append(
                {
                    "path": rel,
                    "kind": "ar",
                    "bytes": path.stat().st_size,
                    "source_of_same_stem": path.name.split(".")[0] in stems,
                }
            )
        if path.suffix not in SOURCE_SUFFIXES:
            continue
        data = path.read_bytes()
        for m in LICENSE_RE.finditer(data):
            if b"#define" in data[max(0, m.start() - 40) : m.start()]:
                continue
            arg = m.group(1).decode(errors="replace")
            text = arg.strip('"') if re.fullmatch(r'"[^"]*"', arg) else arg
            line = data.count(b"\n", 0, m.start()) + 1
            licenses.append(
                {
                    "where": f"{rel}:{line}",
                    "text": text,
                    "gpl_compatible": text in GPL_COMPATIBLE if arg.startswith('"') else None,
                }
            )
        for m in SYMGET_RE.finditer(data):
            line_start = data.rfind(b"\n", 0, m.start()) + 1
            line_end = data.find(b"\n", m.end())
            line = data.count(b"\n", 0, m.start()) + 1
            symget.append(
                {
                    "where": f"{rel}:{line}",
                    "call": m.group(1).decode(),
                    "line": data[line_start:line_end].decode(errors="replace").strip()[:160],
                }
            )
    return {"objects": objects, "module_licenses": licenses, "symbol_get": symget}


# ---------------------------------------------------------------------------- audits


def audit(
    gplscan: list[str],
    target: Path,
    out: Path,
    kernel: Path | None,
    timeout: int,
    cache: Path | None,
) -> Json:
    """Run one gplscan audit, keep its JSON report; exit code, seconds, a summary."""
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        *gplscan,
        "audit",
        str(target),
        "--format",
        "json",
        "-o",
        str(out),
        "-q",
        "-j",
        str(JOBS),
    ]
    cmd += ["--cache-dir", str(cache)] if cache else ["--no-cache"]
    if kernel is not None:
        cmd += ["--kernel", str(kernel)]
    out.unlink(missing_ok=True)
    start = time.monotonic()
    try:
        # not in the repository: ``python -m gplscan`` would import the checkout's gplscan
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=out.parent)
        rc, stderr = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired:
        rc, stderr = -1, f"timeout after {timeout} s"
    seconds = round(time.monotonic() - start, 1)
    meta: Json = {
        "command": cmd,
        "exit": rc,
        "seconds": seconds,
        "stderr_tail": stderr.strip().splitlines()[-10:],
        "report": str(out),
    }
    out.with_suffix(".meta.json").write_text(json.dumps(meta, indent=1))
    return meta


def summarize(report_path: Path, meta: Json, expected: list[str]) -> Json:
    """The table's figures from one JSON report."""
    summary: Json = {"exit": meta["exit"], "seconds": meta["seconds"]}
    try:
        report = json.loads(report_path.read_text())
    except (OSError, ValueError):
        tail = meta.get("stderr_tail") or []
        return {**summary, "verdict": "no report", "error": tail[-1] if tail else ""}
    binaries = report.get("binaries", [])
    names = {Path(b["path"]).name.removesuffix(".ko") for b in binaries}
    unknown = []
    for b in binaries:
        origins = {c.get("origin") for c in b.get("components", [])}
        if not b.get("composition_known", True) or "unknown" in origins:
            unknown.append(b["path"])
    rules = Counter(f"{f['rule_id']}" for f in report.get("findings", []))
    severities = Counter(f["severity"] for f in report.get("findings", []))
    closed = sorted(
        {
            c["path"]
            for b in binaries
            for c in b.get("components", [])
            if c.get("origin") == "closed"
        }
    )
    licenses = sorted({str(b.get("declared_license")) for b in binaries})
    reported = report.get("summary", {}).get("verdict")  # gplscan's own, since round 2
    if reported:
        verdict = reported
    elif meta["exit"] not in (0, 1) or not report.get("complete", True):
        verdict = "incomplete"
    elif severities.get("error"):
        verdict = "violation"
    elif severities.get("warning"):
        verdict = "warning"
    else:
        verdict = "clean"
    return {
        **summary,
        "verdict": verdict,
        "binaries": len(binaries),
        "binary_kinds": dict(Counter(b.get("kind", "?") for b in binaries)),
        "expected_found": sum(1 for m in expected if Path(m).name in names),
        "expected": len(expected),
        "composition_unknown": unknown,
        "license_notes": [
            f"{b['path']}: {b['license_note']}" for b in binaries if b.get("license_note")
        ],
        "closed_components": closed,
        "declared_licenses": licenses,
        "findings": dict(sorted(rules.items())),
        "severities": dict(severities),
        "issues": len(report.get("issues", [])),
        "complete": report.get("complete"),
        "target": report.get("target"),
    }


# ---------------------------------------------------------------------------- table


def _rules(s: Json) -> str:
    return " ".join(f"{k}:{v}" for k, v in s.get("findings", {}).items()) or "-"


def _cell(s: Json | None) -> str:
    if not s:
        return "- | - | - | - | - | - | -"
    if "binaries" not in s:
        return f"- | - | - | - | {s['exit']} | {s['verdict']} | {s['seconds']}"
    unknown = len(s["composition_unknown"])
    return (
        f"{s['binaries']} | {s['expected_found']}/{s['expected']} | {unknown} | "
        f"{_rules(s)} | {s['exit']} | {s['verdict']} | {s['seconds']}"
    )


def _built(b: Json | None) -> str:
    if not b:
        return "-"
    status = str(b["status"])
    return {"ok": "ok", "excluded": "excl.", "failed": "FAIL"}.get(status, status)


def markdown(results: list[Json], kernels: dict[str, Kernel]) -> str:
    rows = ["| package | version | dkms modules | 6.1 | 6.12 |", "|---|---|---|---|---|"]
    for r in results:
        names = [Path(m).name for m in r.get("modules", [])]
        mods = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        mods = mods or "-"
        rows.append(
            f"| {r['package']} | {r['version']} | {mods} | "
            f"{_built(r['builds'].get('6.1'))} | {_built(r['builds'].get('6.12'))} |"
        )
    head = (
        "| package | target | binaries | dkms.conf modules found | composition unknown | "
        "findings by rule | exit | verdict | s |"
    )
    audits = [head, "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for target in ("deb", *kernels):
            s = r["audits"].get(target)
            if s is None and target != "deb":
                continue
            audits.append(f"| {r['package']} | {target} | {_cell(s)} |")
    fails = ["| package | kernel | status | reason |", "|---|---|---|---|"]
    for r in results:
        for tag, b in r["builds"].items():
            if b and b["status"] != "ok":
                reason = str(b.get("reason", "")).replace("|", "\\|")
                fails.append(f"| {r['package']} | {tag} | {b['status']} | {reason} |")
    kern = "\n".join(
        f"- {k.tag}: {k.release} ({k.version}): {', '.join(k.packages)}" for k in kernels.values()
    )
    return "\n".join(
        [
            "## Kernels",
            "",
            kern,
            "",
            "## Builds",
            "",
            *rows,
            "",
            "## Audits",
            "",
            *audits,
            "",
            "## Builds not ok",
            "",
            *fails,
            "",
        ]
    )


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.census",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PKG",
        help="census only this package (repeatable)",
    )
    parser.add_argument(
        "--skip-build", action="store_true", help="build nothing; audit the builds already made"
    )
    parser.add_argument(
        "--audit-only",
        action="store_true",
        help="no apt, no build: audit what is already there, make the table",
    )
    parser.add_argument("--rebuild", action="store_true", help="redo recorded builds")
    parser.add_argument(
        "--keep-audits", action="store_true", help="do not rerun an audit whose report exists"
    )
    parser.add_argument(
        "--gplscan",
        default=DEFAULT_GPLSCAN,
        help=f"gplscan command (split on spaces; default {DEFAULT_GPLSCAN})",
    )
    parser.add_argument("--audit-timeout", type=int, default=900)
    parser.add_argument("--no-cache", action="store_true", help="audit with gplscan --no-cache")
    args = parser.parse_args(argv)
    root = census_dir()
    root.mkdir(parents=True, exist_ok=True)
    gplscan = args.gplscan.split()
    # one cache per gplscan command, so that two gplscans never share cached facts
    key = hashlib.sha1(" ".join(gplscan).encode()).hexdigest()[:10]
    cache = None if args.no_cache else root / "gplscan-cache" / key

    state_file = root / "state.json"
    if args.audit_only:
        state = json.loads(state_file.read_text())
        kernels = {
            t: Kernel(t, k["release"], k["version"], Path(k["build_dir"]), tuple(k["packages"]))
            for t, k in state["kernels"].items()
        }
        packages = state["packages"]
        tools_bin = root / "tools" / "usr" / "bin"
    else:
        archive = Archive(root)
        kernels = {tag: prepare_kernel(archive, root, tag, suite) for tag, suite in KERNELS.items()}
        tools_bin = prepare_tools(archive, root)
        packages = []
        for stanza in archive.dkms_packages():
            deb = archive.download(stanza["Package"], stanza["Version"], root / "debs")
            packages.append(
                {
                    "package": stanza["Package"],
                    "version": stanza["Version"],
                    "suite": stanza["Suite"],
                    "component": stanza["Component"],
                    "source": stanza.get("Source", stanza["Package"]),
                    "deb": str(deb),
                }
            )
        state_file.write_text(
            json.dumps(
                {
                    "kernels": {
                        t: {
                            "release": k.release,
                            "version": k.version,
                            "build_dir": str(k.build_dir),
                            "packages": list(k.packages),
                        }
                        for t, k in kernels.items()
                    },
                    "packages": packages,
                },
                indent=1,
            )
        )

    results_file = root / "results.json"
    previous = {}
    if results_file.exists():
        previous = {r["package"]: r for r in json.loads(results_file.read_text())["packages"]}
    results = []
    for entry in packages:
        name = entry["package"]
        if args.only and name not in args.only:
            if name in previous:
                results.append(previous[name])
            continue
        log(f"== {name} {entry['version']}")
        deb = Path(entry["deb"])
        unpacked_root = unpack(deb, root / "unpacked" / deb.stem)
        trees = dkms_trees(name, unpacked_root)
        record: Json = {
            **entry,
            "trees": [f"{t.module}-{t.module_version}" for t in trees],
            "modules": [],
            "builds": {},
            "audits": {},
            "facts": {},
        }
        for tree in trees:
            record["facts"][f"{tree.module}-{tree.module_version}"] = facts(tree.source)
        for tag, kernel in kernels.items():
            # one built tree per package and kernel: the first dkms tree (all have one)
            for tree in trees[:1]:
                result_file = root / "build" / tag / f"{name}.json"
                built: Json | None = None
                if result_file.exists() and not args.rebuild:
                    built = json.loads(result_file.read_text())
                    if built["status"] == "failed" and Path(built.get("log", "")).is_file():
                        lines = Path(built["log"]).read_text(errors="replace").splitlines()
                        if built["exit"] != -1:
                            built["reason"] = _failure_reason(lines, built["exit"])
                elif not (args.skip_build or args.audit_only):
                    log(f"   build {tree.module}-{tree.module_version} for {kernel.release}")
                    extra = (
                        prepare_deps(archive, root, BUILD_DEPS[name])
                        if name in BUILD_DEPS
                        else None
                    )
                    built = build(tree, kernel, root, tools_bin, extra)
                    result_file.parent.mkdir(parents=True, exist_ok=True)
                    result_file.write_text(json.dumps(built, indent=1))
                    log(f"   -> {built['status']} {built.get('reason', '')}"[:300])
                record["builds"][tag] = built
                if built:
                    record["modules"] = built["built_modules"]
        if not record["modules"] and trees:
            info = dkms_info(
                trees[0].source / "dkms.conf",
                "0",
                Path("/nonexistent"),
                Path("/nonexistent"),
                trees[0].source.parent,
                trees[0].module,
                trees[0].module_version,
            )
            record["modules"] = info.get("built", [])
        reports = root / "reports" / name
        targets: list[tuple[str, Path, Path | None]] = [("deb", deb, None)]
        for tag, built in record["builds"].items():
            if built and built["status"] in ("ok", "failed") and Path(built["build_dir"]).is_dir():
                targets.append((tag, Path(built["build_dir"]), kernels[tag].build_dir))
        for target_name, target, kernel_dir in targets:
            out = reports / f"{target_name}.json"
            meta_file = out.with_suffix(".meta.json")
            if args.keep_audits and meta_file.exists():
                meta = json.loads(meta_file.read_text())
            else:
                log(f"   audit {target_name}")
                meta = audit(gplscan, target, out, kernel_dir, args.audit_timeout, cache)
            record["audits"][target_name] = summarize(out, meta, record["modules"])
            a = record["audits"][target_name]
            log(f"   -> exit {a['exit']} {a['verdict']} {a.get('findings', '')} {a['seconds']} s")
        results.append(record)
        results_file.write_text(
            json.dumps(
                {
                    "kernels": {t: str(k.build_dir) for t, k in kernels.items()},
                    "gplscan": gplscan,
                    "packages": results,
                },
                indent=1,
            )
        )
    order = {p["package"]: i for i, p in enumerate(packages)}
    results.sort(key=lambda r: order.get(r["package"], len(order)))
    results_file.write_text(
        json.dumps(
            {
                "kernels": {t: str(k.build_dir) for t, k in kernels.items()},
                "gplscan": gplscan,
                "packages": results,
            },
            indent=1,
        )
    )
    print(markdown(results, kernels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
