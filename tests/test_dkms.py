"""dkms.conf read as dkms reads it (statically: never run), and every module it names in
the report (issue 12, item 1)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from hypothesis import given
from hypothesis import strategies as st

from gplscan.facts.dkms import read_dkms_conf
from gplscan.scan import Options, run

XTABLES = """\
PACKAGE_VERSION="3.23"

# Items below here should not have to change with each driver version

PACKAGE_NAME="xtables-addons"
BDIR="$dkms_tree/${PACKAGE_NAME}/${PACKAGE_VERSION}/build"
MAKEARGS="-C $kernel_source_dir M=${BDIR}/extensions XA_ABSTOPSRCDIR=${BDIR} V=1"
MAKE="make ${MAKEARGS} modules ; find ${BDIR} -name '*.ko' -exec mv -v {} ${BDIR} \\\\;"
BUILT_MODULE_LOCATION[0]=""
BUILT_MODULE_NAME[0]="xt_CHAOS"
BUILT_MODULE_NAME[1]="xt_ECHO"
BUILT_MODULE_NAME[2]="xt_MISSING"
"""

LTTNG = """\
PACKAGE_NAME="lttng-modules"
i=0
if [ -f $kernel_source_dir/.config ]; then
    . $kernel_source_dir/.config
fi
PATCHLEVEL=$(echo $kernelver | sed -ne 's/\\([0-9]\\+\\)\\.\\(.\\+\\)/\\2/p')
MAKE[$i]="make -C $kernel_source_dir M=$dkms_tree/$PACKAGE_NAME/$PACKAGE_VERSION/build \\
  modules CONFIG_LTTNG=m"
BUILT_MODULE_NAME[$i]="lttng-lib-ring-buffer"
BUILT_MODULE_LOCATION[$i]="src/lib/"
i=$((i+1))
if [ $PATCHLEVEL -ge 4 ]; then
    BUILT_MODULE_NAME[$i]="lttng-probe-9p"; BUILT_MODULE_LOCATION[$i]="src/probes/"
    i=$((i+1))
fi
PATCH=(fix-a.patch fix-b.patch)
"""


def test_counter_idiom_branches_and_arrays() -> None:
    conf = read_dkms_conf(LTTNG, PurePosixPath("dkms.conf"))
    assert [(m.index, m.name, m.location, m.line) for m in conf.modules] == [
        (0, "lttng-lib-ring-buffer", "src/lib", 9),
        (1, "lttng-probe-9p", "src/probes", 13),
    ]
    assert conf.make_variables("/pkg") == {"CONFIG_LTTNG": "m"}  # M= is per directory
    assert [p for p, _ in conf.patches] == ["fix-a.patch", "fix-b.patch"]


def test_make_line_variables_map_dkms_paths_onto_the_package() -> None:
    conf = read_dkms_conf(XTABLES, PurePosixPath("dkms.conf"))
    package = "/scratch/usr/src/xtables-addons-3.23"
    assert conf.make_variables(package) == {"XA_ABSTOPSRCDIR": package, "V": "1"}
    assert [m.name for m in conf.modules] == ["xt_CHAOS", "xt_ECHO", "xt_MISSING"]


@given(st.text(max_size=300))
def test_any_text_reads_without_error(text: str) -> None:
    conf = read_dkms_conf(text, PurePosixPath("dkms.conf"))
    for module in conf.modules:
        assert module.name and "\x00" not in module.name
    conf.make_variables("/pkg")


def _no_detection(path: Path) -> tuple[None, tuple[()]]:
    return None, ()


def test_every_module_dkms_conf_names_is_in_the_report(tmp_path: Path) -> None:
    """xtables-addons' shape: the Kbuild includes a file named by a variable that only
    dkms.conf's MAKE line sets; a module dkms.conf names that nothing builds is a gap."""
    root = tmp_path / "usr" / "src" / "xtables-addons-3.23"
    (root / "extensions").mkdir(parents=True)
    (root / "dkms.conf").write_text(XTABLES)
    (root / "mconfig").write_text("build_CHAOS=m\nbuild_ECHO=m\n")
    (root / "extensions" / "Kbuild").write_text(
        "include ${XA_ABSTOPSRCDIR}/mconfig\n"
        "obj-${build_CHAOS} += xt_CHAOS.o\nobj-${build_ECHO} += xt_ECHO.o\n"
    )
    for name in ("xt_CHAOS", "xt_ECHO"):
        (root / "extensions" / f"{name}.c").write_text(
            '// SPDX-License-Identifier: GPL-2.0-only\nMODULE_LICENSE("GPL");\n'
        )
    result = run(root, Options(cache_dir=None), detector=_no_detection)
    assert sorted(b.name for b in result.binaries) == ["xt_CHAOS", "xt_ECHO"]
    (gap,) = result.findings
    assert gap.rule == "not-judged" and (gap.path, gap.line) == ("dkms.conf", 12)
    assert "xt_MISSING.ko" in gap.message


def test_a_build_file_no_build_of_the_package_reaches_is_not_a_shipped_module(
    tmp_path: Path,
) -> None:
    """dahdi's shape: datamods/Makefile describes modules no build of the package reaches;
    they are noted, and get no proprietary-module warning."""
    root = tmp_path / "usr" / "src" / "drv-1.0"
    (root / "drivers" / "datamods").mkdir(parents=True)
    (root / "dkms.conf").write_text(
        'PACKAGE_NAME="drv"\nPACKAGE_VERSION="1.0"\nMAKE[0]="make KVERS=$kernelver"\n'
        'BUILT_MODULE_NAME[0]="drv"\nBUILT_MODULE_LOCATION[0]="drivers/"\n'
    )
    (root / "Makefile").write_text("all:\n\t$(MAKE) -C /lib/modules/x/build M=$(PWD)/drivers\n")
    (root / "drivers" / "Kbuild").write_text("obj-m += drv.o\n")
    (root / "drivers" / "drv.c").write_text(
        '// SPDX-License-Identifier: GPL-2.0-only\nMODULE_LICENSE("GPL");\n'
    )
    (root / "drivers" / "datamods" / "Makefile").write_text("obj-m += hdlc.o\n")
    (root / "drivers" / "datamods" / "hdlc.c").write_text(
        "// SPDX-License-Identifier: GPL-2.0-only\n"
    )
    result = run(root, Options(cache_dir=None), detector=_no_detection)
    assert [b.name for b in result.binaries] == ["drv"]
    assert not result.findings, [f.message for f in result.findings]
    (note,) = [i for i in result.issues if "reaches" in i.message]
    assert str(note.path) == "drivers/datamods/Makefile" and not note.skipped
