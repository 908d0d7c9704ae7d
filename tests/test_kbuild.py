"""Build facts from Kbuild files and Makefiles: modules, members, ldflags blobs, loops."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from gplscan.facts.kbuild import build_file_for, read_kbuild
from gplscan.model import Gap, ScanIssue


def read(tmp_path: Path, text: str, name: str = "Makefile"):  # type: ignore[no-untyped-def]
    (tmp_path / name).write_text(text)
    issues: list[ScanIssue] = []
    modules, copies = read_kbuild(tmp_path / name, tmp_path, issues)
    return {m.name: m for m in modules}, copies, issues


def members(module) -> list[tuple[str, str, int | None]]:  # type: ignore[no-untyped-def]
    return [(str(m.path), m.via, m.evidence.line) for m in module.members]


OUT_OF_TREE = """\
# out-of-tree module wrapper
ifneq ($(KERNELRELEASE),)
\tobj-m += wl.o
\twl-objs := src/a.o \\
\t\tsrc/b.o
\twl-objs += $(addprefix src/, c.o d.o)
EXTRA_LDFLAGS := $(src)/lib/wlc_hybrid.o_shipped
else
KDIR ?= /lib/modules/$(shell uname -r)/build
default:
\t$(MAKE) -C $(KDIR) M=$(PWD) modules
endif
"""


def test_objs_lists_functions_and_ldflags_blobs(tmp_path: Path) -> None:
    modules, _, issues = read(tmp_path, OUT_OF_TREE)
    assert set(modules) == {"wl"}
    assert members(modules["wl"]) == [
        ("src/a.o", "objs", 4),
        ("src/b.o", "objs", 4),
        ("src/c.o", "objs", 6),
        ("src/d.o", "objs", 6),
        ("lib/wlc_hybrid.o_shipped", "ldflags", 7),
    ]
    assert modules["wl"].declared_at.line == 3
    assert not issues


def test_config_options_read_as_m_and_conditionals(tmp_path: Path) -> None:
    modules, _, _ = read(
        tmp_path,
        "obj-$(CONFIG_FOO) += foo.o\nfoo-y := main.o\n"
        "ifeq ($(CONFIG_BAR),y)\nfoo-y += bar.o\nelse\nfoo-y += nobar.o\nendif\n"
        "ifdef CONFIG_BAZ\nfoo-y += baz.o\nendif\n"
        "obj-y += builtin.o\n",
    )
    assert set(modules) == {"foo"}
    # an undeclared option is "m" as a name part, "y" when a condition tests it
    assert [m[0] for m in members(modules["foo"])] == ["main.o", "bar.o", "baz.o"]


def test_single_object_module_and_explicit_copy_rule(tmp_path: Path) -> None:
    modules, copies, _ = read(
        tmp_path,
        "obj-m := single.o\n$(obj)/blob.o: $(src)/blob.o_shipped\n\tcp $< $@\n",
    )
    assert members(modules["single"]) == [("single.o", "self", 1)]
    assert [(str(c.target), str(c.source), c.evidence.line) for c in copies] == [
        ("blob.o", "blob.o_shipped", 2)
    ]


def test_self_include_and_recursive_variable_are_cut_and_reported(tmp_path: Path) -> None:
    modules, _, issues = read(
        tmp_path,
        "include Makefile\n-include missing.mk\nLOOP = $(LOOP) x.o\n"
        "obj-m += m.o\nm-objs := $(LOOP) a.o\n",
    )
    # make itself stops here; gplscan cuts the self-reference and keeps the rest
    assert [m[0] for m in members(modules["m"])] == ["x.o", "a.o"]
    messages = " ".join(i.message for i in issues)
    assert "would loop" in messages and "refers to itself" in messages
    assert all(not i.skipped for i in issues), "cut loops lose nothing: notes, not skips"


def test_mutual_includes_terminate(tmp_path: Path) -> None:
    (tmp_path / "a.mk").write_text("include b.mk\nobj-m += a.o\n")
    (tmp_path / "b.mk").write_text("include a.mk\nobj-m += b.o\n")
    modules, _, issues = read(tmp_path, "include a.mk\n")
    assert set(modules) == {"a", "b"}
    assert any("would loop" in i.message for i in issues)


def test_members_outside_the_target_are_reported(tmp_path: Path) -> None:
    sub = tmp_path / "drv"
    sub.mkdir()
    (sub / "Kbuild").write_text("obj-m += m.o\nm-objs := ../../../etc/evil.o ok.o\n")
    issues: list[ScanIssue] = []
    modules, _ = read_kbuild(sub / "Kbuild", tmp_path, issues)
    assert [str(m.path) for m in modules[0].members] == ["drv/ok.o"]
    assert any("outside the target" in i.message for i in issues)


def test_kbuild_file_wins_over_makefile(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text("all:\n")
    (tmp_path / "Kbuild").write_text("obj-m += m.o\n")
    assert build_file_for(tmp_path) == tmp_path / "Kbuild"
    assert build_file_for(tmp_path / "nothing") is None


def test_evidence_paths_are_relative(tmp_path: Path) -> None:
    modules, _, _ = read(tmp_path, "obj-m += m.o\n", name="Kbuild")
    assert modules["m"].declared_at.path == PurePosixPath("Kbuild")


def test_built_tree_records_show_what_the_linker_took(tmp_path: Path) -> None:
    """A blob that enters through EXTRA_LDFLAGS is found in Kbuild's .cmd record even when
    the build file that put it there is gone (what Kbuild did, not what files say)."""
    import shutil
    import subprocess

    from gplscan.scan import Options, run
    from tests.helpers import FIXTURES, compile_object, need_tools

    need_tools("gcc", "ld", "make", "nm", "objdump")
    tree = tmp_path / "wl"
    (tree / "lib").mkdir(parents=True)
    shutil.copytree(FIXTURES / "hyperv-2009" / "include", tree / "include")
    (tree / "Kbuild").write_text(
        "obj-m += wl.o\nwl-objs := main.o\nEXTRA_LDFLAGS := $(src)/lib/blob.o_shipped\n"
    )
    (tree / "main.c").write_text(
        "// SPDX-License-Identifier: GPL-2.0-only\n#include <linux/module.h>\n"
        "int blob_compute(int x);\nvoid main_callback(int e) { (void)e; }\n"
        'int wl_probe(int x) { return blob_compute(x); }\nMODULE_LICENSE("GPL");\n'
    )
    compile_object(FIXTURES / "rules" / "_blobs" / "blob.c", tree / "lib" / "blob.o_shipped")
    subprocess.run(
        ["make", "-f", str(FIXTURES / "minikbuild.mk"), "-C", str(tree), f"src={tree}"],
        check=True,
        capture_output=True,
    )
    (tree / "Kbuild").write_text("obj-m += wl.o\nwl-objs := main.o\n")  # the flag is gone
    result = run(tree, Options(cache_dir=None))
    (wl,) = result.binaries
    blob = wl.component(PurePosixPath("lib/blob.o_shipped"))
    assert blob is not None and blob.origin.value == "closed"
    assert blob.linked_by.path == PurePosixPath(".wl.o.cmd")
    assert blob.linked_by.text.startswith("savedcmd_wl.o := ld lib/blob.o_shipped")
    assert "gpl-links-closed-object" in {f.rule for f in result.findings}


# --- make as real trees use it (issue 12) -------------------------------------------------

NVIDIA_MAKEFILE = """\
ifneq ($(KERNELRELEASE),)
  include $(src)/Kbuild
else
  KERNEL_UNAME ?= $(shell uname -r)
  NV_KERNEL_MODULES ?= $(wildcard nvidia nvidia-uvm nvidia-modeset)
  NV_KERNEL_MODULES := $(filter-out $(NV_EXCLUDE_KERNEL_MODULES), $(NV_KERNEL_MODULES))
modules:
\t$(MAKE) -C /lib/modules/$(KERNEL_UNAME)/build M=$(CURDIR) \\
\t  NV_KERNEL_MODULES="$(NV_KERNEL_MODULES)" modules
endif
"""

NVIDIA_KBUILD = """\
quiet_cmd_symlink = SYMLINK $@
 cmd_symlink = ln -sf $(abspath $<) $@
ASSIGN_PER_OBJ_CFLAGS = \\
 $(foreach _cflags_variable, \\
 $(notdir $(1)) $(1), \\
 $(eval $(addprefix CFLAGS_,$(_cflags_variable)) += $(2)))

$(foreach _module, $(NV_KERNEL_MODULES), \\
 $(eval include $(src)/$(_module)/$(_module).Kbuild))
"""

NVIDIA_MODULE_KBUILD = """\
include $(src)/nvidia/nvidia-sources.Kbuild
NVIDIA_OBJECTS = $(patsubst %.c,%.o,$(NVIDIA_SOURCES))
obj-m += nvidia.o
nvidia-y := $(NVIDIA_OBJECTS)
NVIDIA_BINARY_OBJECT := $(src)/nvidia/nv-kernel.o_binary
NVIDIA_BINARY_OBJECT_O := nvidia/nv-kernel.o
$(obj)/$(NVIDIA_BINARY_OBJECT_O): $(NVIDIA_BINARY_OBJECT) FORCE
\t$(call if_changed,symlink)
nvidia-y += $(NVIDIA_BINARY_OBJECT_O)
$(call ASSIGN_PER_OBJ_CFLAGS, $(NVIDIA_OBJECTS), -DNVRM)
"""


def test_nvidia_shape_eval_foreach_wildcard_from_the_outer_makefile(tmp_path: Path) -> None:
    """The modules come from $(foreach ... $(eval include ...)) over a list that only the
    Makefile's other half sets, with $(wildcard); the blob enters by a symlink rule."""
    (tmp_path / "Makefile").write_text(NVIDIA_MAKEFILE)
    (tmp_path / "Kbuild").write_text(NVIDIA_KBUILD)
    (tmp_path / "nvidia").mkdir()
    (tmp_path / "nvidia" / "nvidia.Kbuild").write_text(NVIDIA_MODULE_KBUILD)
    (tmp_path / "nvidia" / "nvidia-sources.Kbuild").write_text(
        "NVIDIA_SOURCES =\nNVIDIA_SOURCES += nvidia/nv.c\nNVIDIA_SOURCES += nvidia/nv-mmap.c\n"
    )
    (tmp_path / "nvidia-modeset").mkdir()
    (tmp_path / "nvidia-modeset" / "nvidia-modeset.Kbuild").write_text(
        "obj-m += nvidia-modeset.o\nnvidia-modeset-y := nvidia-modeset/nvidia-modeset-linux.o\n"
    )
    issues: list[ScanIssue] = []
    gaps: list[Gap] = []
    modules, copies = read_kbuild(tmp_path / "Kbuild", tmp_path, issues, gaps=gaps)
    by_name = {m.name: m for m in modules}
    assert set(by_name) == {"nvidia", "nvidia-modeset"}, "nvidia-uvm has no directory"
    assert [str(m.path) for m in by_name["nvidia"].members] == [
        "nvidia/nv.o",
        "nvidia/nv-mmap.o",
        "nvidia/nv-kernel.o",
    ]
    # evidence points at the line of the included file that names the member
    blob = by_name["nvidia"].members[-1]
    assert (str(blob.evidence.path), blob.evidence.line) == ("nvidia/nvidia.Kbuild", 6)
    rule = next(c for c in copies if str(c.target) == "nvidia/nv-kernel.o")
    assert str(rule.source) == "nvidia/nv-kernel.o_binary"
    assert not gaps, gaps


def test_make_command_line_variables_win(tmp_path: Path) -> None:
    (tmp_path / "mconfig").write_text("build_CHAOS = m\n")
    (tmp_path / "Kbuild").write_text(
        "include ${XA_ABSTOPSRCDIR}/mconfig\nobj-${build_CHAOS} += xt_CHAOS.o\nMOD := mine\n"
        "obj-m += $(MOD).o\n"
    )
    issues: list[ScanIssue] = []
    gaps: list[Gap] = []
    modules, _ = read_kbuild(
        tmp_path / "Kbuild",
        tmp_path,
        issues,
        gaps=gaps,
        command_line={"XA_ABSTOPSRCDIR": str(tmp_path), "MOD": "cmdline"},
    )
    assert sorted(m.name for m in modules) == ["cmdline", "xt_CHAOS"]
    assert not gaps
    # without the command line, the include is a gap naming the variable, never a silent drop
    modules, _ = read_kbuild(tmp_path / "Kbuild", tmp_path, [], gaps=gaps)
    assert sorted(m.name for m in modules) == ["mine"]
    (gap,) = gaps
    assert (str(gap.at.path), gap.at.line) == ("Kbuild", 1)
    assert "XA_ABSTOPSRCDIR" in gap.reason


def test_call_tab_conditions_and_shell_stand_ins(tmp_path: Path) -> None:
    gaps: list[Gap] = []
    (tmp_path / "Kbuild").write_text(
        "pick = $(2) $(1)\n"
        "ifneq\t($(CONFIG_X),)\nobj-m += $(call pick,a.o,b.o)\nendif\n"
        "obj-m += $(shell ls *.o)\n"
        "LIST != echo c.o\nobj-m += $(LIST)\n"
    )
    modules, _ = read_kbuild(tmp_path / "Kbuild", tmp_path, [], gaps=gaps)
    assert [m.name for m in modules] == ["b", "a"]
    assert [(g.at.line, "not run" in g.reason) for g in gaps] == [(5, True), (6, True)]


def test_kbuild_records_give_the_composition_when_no_build_file_can_be_read(
    tmp_path: Path,
) -> None:
    """A built tree whose build files say nothing gplscan can read (here: none at all):
    <mod>.mod names the members, a symlinked member is judged by the file it names."""
    import os
    import shutil
    import subprocess

    from gplscan.scan import Options, run
    from tests.helpers import FIXTURES, compile_object, need_tools

    need_tools("gcc", "ld", "make", "nm", "objdump")
    tree = tmp_path / "nv"
    shutil.copytree(FIXTURES / "hyperv-2009" / "include", tree / "include")
    (tree / "Kbuild").write_text("obj-m += nv.o\nnv-objs := main.o kern.o\n")
    (tree / "main.c").write_text(
        "// SPDX-License-Identifier: GPL-2.0-only\n#include <linux/module.h>\n"
        "int blob_compute(int x);\nvoid main_callback(int e) { (void)e; }\n"
        'int nv_probe(int x) { return blob_compute(x); }\nMODULE_LICENSE("GPL");\n'
    )
    compile_object(FIXTURES / "rules" / "_blobs" / "blob.c", tree / "kern.o_shipped")
    subprocess.run(
        ["make", "-f", str(FIXTURES / "minikbuild.mk"), "-C", str(tree), f"src={tree}"],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(tree / "include")
    (tree / "Kbuild").unlink()
    (tree / "kern.o_shipped").rename(tree / "kern.o_binary")
    (tree / "kern.o").unlink()
    os.symlink("kern.o_binary", tree / "kern.o")
    result = run(tree, Options(cache_dir=None))
    (nv,) = result.binaries
    assert nv.composition_known and nv.defined_at is not None
    assert str(nv.defined_at.path) == "nv.mod"
    kern = nv.component(PurePosixPath("kern.o"))
    assert kern is not None and kern.origin.value == "closed"
    assert str(kern.file) == "kern.o_binary"
    assert any("kern.o is a symbolic link to kern.o_binary" in r for r in kern.reasons)
    rules = {f.rule for f in result.findings}
    assert "gpl-links-closed-object" in rules
    assert "not-judged" not in rules, [f.message for f in result.findings]


def test_autoconf_templates_read_as_configure_would_write_them(tmp_path: Path) -> None:
    """zfs' shape: no Makefile until configure runs; Makefile.in with @abs_srcdir@, an
    external-module branch on KBUILD_EXTMOD, and an include of a file configure makes."""
    (tmp_path / "configure").write_text("#!/bin/sh\n")
    spl = tmp_path / "module" / "spl"
    spl.mkdir(parents=True)
    (spl / "Makefile.in").write_text(
        "ifneq ($(KBUILD_EXTMOD),)\nsrc = @abs_srcdir@\nobj = @abs_builddir@\nmfdir = $(obj)\n"
        "else\nmfdir = $(srctree)/$(src)\nendif\nMODULE := spl\n"
        "obj-$(CONFIG_ZFS) := $(MODULE).o\ninclude $(mfdir)/../os/linux/spl/Makefile\n"
    )
    (tmp_path / "module" / "os" / "linux" / "spl").mkdir(parents=True)
    (tmp_path / "module" / "os" / "linux" / "spl" / "Makefile.in").write_text(
        "$(MODULE)-objs += ../os/linux/spl/spl-atomic.o\n@CONFIG_QAT_TRUE@$(MODULE)-objs += q.o\n"
    )
    build = build_file_for(spl)
    assert build is not None and build.name == "Makefile.in"
    gaps: list[Gap] = []
    modules, _ = read_kbuild(build, tmp_path, [], gaps=gaps)
    (spl_module,) = modules
    assert [str(m.path) for m in spl_module.members] == [
        "module/os/linux/spl/spl-atomic.o",
        "module/spl/q.o",
    ]
    assert not gaps


def test_shell_commands_whose_output_is_known_without_running_them(tmp_path: Path) -> None:
    """lttng's shapes: the directory of the Makefile being read, and object names printed
    under kernel-version tests; a value a condition compares stays unknown."""
    (tmp_path / "common.mk").write_text("obj-m += common.o\n")
    (tmp_path / "Kbuild").write_text(
        "TOP := $(shell dirname $(lastword $(MAKEFILE_LIST)))\ninclude $(TOP)/common.mk\n"
        'obj-m += $(shell if [ $(VERSION) -ge 4 ] ; then echo "probe.o" ; fi;)\n'
        "check = $(shell if [ -z x ]; then echo warn; else echo ok; fi)\n"
        "ifeq ($(check),ok)\nobj-m += kmem.o\nendif\n"
    )
    gaps: list[Gap] = []
    modules, _ = read_kbuild(tmp_path / "Kbuild", tmp_path, [], gaps=gaps)
    assert [m.name for m in modules] == ["common", "probe"]
    assert not gaps
