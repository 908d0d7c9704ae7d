"""Fuzz targets for the make reader (a Kbuild file or Makefile, read the way a scan reads a
directory's build file) and for Kconfig (which options may be modules).

The property: facts or a reported problem (an issue, a gap such as a limit met), never a
traceback, never a hang; and no fact made from a construct gplscan did not evaluate (its
stand-in, a NUL, never reaches a module name, member or copy rule).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from gplscan.facts.kbuild import read_kbuild
from gplscan.facts.kconfig import KconfigTypes
from gplscan.model import Gap, ScanIssue
from tests import test_kbuild
from tests.fuzz_targets import Target
from tests.helpers import FIXTURES

# the out-of-tree wrapper the make reader's own tests read
OUT_OF_TREE = test_kbuild.OUT_OF_TREE.encode()

FUNCTIONS = b"""\
MODS := alpha beta
define tmpl
$(1)-y := $(1)_main.o $$(patsubst %.c,%.o,$(2))
endef
$(foreach m,$(MODS),$(eval $(call tmpl,$(m),$(m)_x.c $(m)_y.c)))
obj-$(CONFIG_ALPHA) += $(addsuffix .o,$(MODS))
count = $(if $(word 3,$(1)),$(1),$(call count,$(1) x))
obj-m+=$(firstword $(call count,gamma)).o
gamma-objs := $(filter-out %_test.o,$(sort g1.o g2.o g_test.o)) $(notdir dir/g3.o)
ifeq "$(origin CC)" "default"
ldflags-y += $(obj)/blob.o_shipped
endif
ifdef CONFIG_NET
ccflags-y += -I$(src)/include
else ifeq ($(CONFIG_X86),y)
ccflags-y += -DX86
endif
$(obj)/g1.o: $(src)/g1.o_shipped
\tcp $< $@
"""

INCLUDES = b"""\
-include $(src)/missing.mk
include $(src)/Kbuild.extra
sinclude $(wildcard $(src)/*.mk)
V = $(V) loop
obj-m += $(subst .c,.o,inc.c) $(basename $(dir a/b.c))x.o
$(info reading) $(warning odd)
all:
\t$(MAKE) -C $(KDIR) M=$(CURDIR) SUBDIRS=sub modules
"""

EXTRA = b"obj-m += extra.o\nextra-y := e1.o e2.o\ninclude $(src)/Kbuild\n"

KCONFIG = b"""\
menu "Drivers"
config FOO
\ttristate "Foo support"
\tdepends on NET
\thelp
\t  Say m.
menuconfig BAR
\tbool "Bar"
config BAZ
\tdef_tristate m
\t# a comment
config QUX
\tdef_bool y
\tselect FOO
endmenu
source "drivers/Kconfig"
"""


def make_seeds(scratch: Path) -> list[bytes]:
    seeds = [OUT_OF_TREE, FUNCTIONS, INCLUDES]
    names = ("Kbuild", "Makefile", "minikbuild.mk")
    for path in sorted(FIXTURES.rglob("*")):
        if path.name in names and path.is_file() and len(seeds) < 12:
            seeds.append(path.read_bytes())
    return seeds


def make(data: bytes, scratch: Path) -> None:
    """The bytes as a directory's Kbuild, with a Makefile (its other half) and a fragment
    it includes, read as a scan reads them."""
    (scratch / "Kbuild").write_bytes(data)
    (scratch / "Makefile").write_bytes(data[: len(data) // 2])
    (scratch / "Kbuild.extra").write_bytes(EXTRA)
    issues: list[ScanIssue] = []
    gaps: list[Gap] = []
    reaches: list[PurePosixPath] = []
    included: set[Path] = set()
    modules, copies = read_kbuild(
        scratch / "Kbuild",
        scratch,
        issues,
        {"NET": "y", "ALPHA": "m"},
        gaps=gaps,
        command_line={"KDIR": "/nonexistent"},
        reaches=reaches,
        included=included,
    )
    for module in modules:
        assert module.name and "\x00" not in module.name, module
        for member in module.members:
            assert "\x00" not in str(member.path), module
    for rule in copies:
        assert "\x00" not in str(rule.target) + str(rule.source), rule
    for gap in gaps:
        assert gap.reason and gap.at.path is not None


def kconfig_seeds(scratch: Path) -> list[bytes]:
    return [KCONFIG, b"config A\n\ttristate\nconfig B\n\tbool\n"]


def kconfig(data: bytes, scratch: Path) -> None:
    """Types for every option a Kconfig declares: m or y, or off ("") elsewhere."""
    (scratch / "Kconfig").write_bytes(data)
    arch = scratch / "arch" / "arm"
    arch.mkdir(parents=True)
    (arch / "Kconfig").write_bytes(data[::-1])
    types = KconfigTypes(
        scratch, [PurePosixPath("Kconfig"), PurePosixPath("arch/arm/Kconfig")], "x86"
    )
    for directory in (PurePosixPath("drivers"), PurePosixPath("arch/arm/mach")):
        for name, value in types.for_directory(directory).items():
            assert name and value in ("m", "y", ""), (name, value)


TARGETS = [
    Target("make", make_seeds, make),
    Target("kconfig", kconfig_seeds, kconfig),
]
