"""Objects compiled from sources the build writes first are accounted for by their
generator (issue 12): a perl script, a template, a host program, Kbuild's copy of a
shipped source, the ASN.1 compiler; not "unknown" (the Linux tree had 29 such gaps)."""

from __future__ import annotations

import json
from pathlib import Path

from gplscan.report import json as json_report
from gplscan.scan import Options, run

MAKEFILE = """\
obj-m += crypt.o raid.o keys.o vmx.o
crypt-y := glue.o poly-core.o
raid-y := main.o tables.o int1.o gone.o
keys-y := parser.o x509.asn1.o utf8data.o
vmx-y := aesp8-ppc.o main2.o
$(obj)/%-core.S: $(src)/%-armv4.pl
\t$(call cmd,perl)
$(obj)/int%.c: $(src)/int.uc $(src)/unroll.awk FORCE
\t$(call if_changed,unroll)
hostprogs += mktables
$(obj)/tables.c: $(obj)/mktables FORCE
\t$(call if_changed,mktable)
$(obj)/gone.c: $(src)/gone.template
\tcp $< $@
$(obj)/aesp8-ppc.S $(obj)/ghashp8-ppc.S: $(obj)/%.S: $(src)/%.pl FORCE
\t$(call cmd,perl)
"""
GPL = (
    '// SPDX-License-Identifier: GPL-2.0-only\nMODULE_LICENSE("GPL");\n'
    "int {name}(void) {{ return 0; }}\n"
)
FILES = {
    "glue.c": GPL.format(name="glue"),
    "main.c": GPL.format(name="raid_main"),
    "main2.c": GPL.format(name="vmx_main"),
    "parser.c": GPL.format(name="parse"),
    "poly-armv4.pl": "#!/usr/bin/env perl\n# SPDX-License-Identifier: GPL-1.0+ OR BSD-3-Clause\n",
    "aesp8-ppc.pl": "#!/usr/bin/env perl\n# SPDX-License-Identifier: GPL-2.0\n",
    "int.uc": "/* SPDX-License-Identifier: GPL-2.0-or-later */\nint raid$#;\n",
    "mktables.c": "// SPDX-License-Identifier: GPL-2.0-or-later\nint main(void) { return 0; }\n",
    "x509.asn1": "-- SPDX-License-Identifier: BSD-3-Clause\nCertificate ::= SEQUENCE { }\n",
    "utf8data.c_shipped": "// SPDX-License-Identifier: GPL-2.0-only\nint utf8data;\n",
}


def test_generated_sources_are_accounted_for_by_their_generator(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text(MAKEFILE)
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    result = run(tmp_path, Options(cache_dir=None), detector=lambda p: (None, ()))
    report = json.loads(json_report.render(result))
    parts = {c["path"]: c for b in report["binaries"] for c in b["components"]}
    expected = {
        "poly-core.o": ("poly-armv4.pl", "GPL-1.0-or-later OR BSD-3-Clause", "Makefile:6"),
        "int1.o": ("int.uc", "GPL-2.0-or-later", "Makefile:8"),
        "tables.o": ("mktables.c", "GPL-2.0-or-later", "host program mktables"),
        "x509.asn1.o": ("x509.asn1", "BSD-3-Clause", "ASN.1 compiler"),
        "utf8data.o": ("utf8data.c_shipped", "GPL-2.0-only", "%_shipped"),
        "aesp8-ppc.o": ("aesp8-ppc.pl", "GPL-2.0-only", "Makefile:15"),
    }
    for obj, (source, license, how) in expected.items():
        part = parts[obj]
        assert part["origin"] == "source", part
        assert part["sources"] == [source], part
        assert part["license"] == license, part
        assert how in part["reasons"][0], part["reasons"]
    # a generator whose input is missing: still not judged, and says which input
    gone = parts["gone.o"]
    assert gone["origin"] == "unknown"
    assert "gone.template" in gone["reasons"][0] and "Makefile:13" in gone["reasons"][0]
    assert not [f for f in report["findings"] if f["rule"] == "unknown-license"]


def test_a_prerequisite_rule_and_an_objcopy_keep_the_source(tmp_path: Path) -> None:
    """lib/Makefile's `$(obj)/oid_registry.o: $(obj)/oid_registry_data.c` adds a generated
    prerequisite: oid_registry.c is still what is compiled. lkdtm's rodata_objcopy.o is
    objcopy'd from rodata.o, which is compiled from rodata.c."""
    (tmp_path / "Makefile").write_text(
        "obj-m += oid_registry.o lkdtm.o\n"
        "lkdtm-y := core.o rodata_objcopy.o\n"
        "$(obj)/oid_registry.o: $(obj)/oid_registry_data.c\n"
        "$(obj)/rodata_objcopy.o: $(obj)/rodata.o FORCE\n"
        "\t$(call if_changed,objcopy)\n"
    )
    for name in ("oid_registry.c", "core.c", "rodata.c"):
        (tmp_path / name).write_text(GPL.format(name=name[:-2]))
    result = run(tmp_path, Options(cache_dir=None), detector=lambda p: (None, ()))
    parts = {str(c.path): c for b in result.binaries for c in b.components}
    assert [str(s) for s in parts["oid_registry.o"].sources] == ["oid_registry.c"]
    assert [str(s) for s in parts["rodata_objcopy.o"].sources] == ["rodata.c"]
    assert "copies rodata.o" in parts["rodata_objcopy.o"].reasons[0]


def test_an_object_a_sub_make_builds_is_not_a_copy_of_its_prerequisite(tmp_path: Path) -> None:
    """dahdi's wct4xxp Kbuild: `$(obj)/../firmware/fw.o: $(obj)/base.o` made by
    `$(MAKE) -C firmware fw.o` (from firmware the tree does not hold) is not base.o."""
    (tmp_path / "firmware").mkdir()
    (tmp_path / "Kbuild").write_text(
        "obj-m += card.o\ncard-objs := base.o firmware/fw.o\n"
        "$(obj)/firmware/fw.o: $(obj)/base.o\n"
        "\t$(MAKE) -C $(obj)/firmware fw.o\n"
    )
    (tmp_path / "base.c").write_text(GPL.format(name="base"))
    result = run(tmp_path, Options(cache_dir=None), detector=lambda p: (None, ()))
    parts = {c.path.name: c for b in result.binaries for c in b.components}
    assert str(parts["fw.o"].origin) == "unknown", parts["fw.o"]


def test_an_explicit_asn1_compile_rule_keeps_the_generator(tmp_path: Path) -> None:
    """crypto/asymmetric_keys: `$(obj)/x509.asn1.o: $(obj)/x509.asn1.c $(obj)/x509.asn1.h`
    names the generated source; the ASN.1 compiler writes it from x509.asn1."""
    (tmp_path / "Makefile").write_text(
        "obj-m += parser.o\nparser-y := x509.asn1.o main.o\n"
        "$(obj)/x509.asn1.o: $(obj)/x509.asn1.c $(obj)/x509.asn1.h\n"
    )
    (tmp_path / "x509.asn1").write_text(FILES["x509.asn1"])
    (tmp_path / "main.c").write_text(GPL.format(name="main"))
    result = run(tmp_path, Options(cache_dir=None), detector=lambda p: (None, ()))
    parts = {c.path.name: c for b in result.binaries for c in b.components}
    assert [str(s) for s in parts["x509.asn1.o"].sources] == ["x509.asn1"]
