"""Autoconf templates (``Makefile.in``, ``Kbuild.in``) read as configure would write them,
as far as a static reading knows."""

from __future__ import annotations

import os
import re
from pathlib import Path

_AUTOCONF = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)@")


def configured(text: str, directory: Path, root: Path) -> str:
    """An autoconf template as configure would write it, as far as a static reading knows:
    the source and build directories (``@abs_srcdir@``, ``@top_srcdir@``, ...) are the
    template's own and the top of its configure tree; an automake conditional
    (``@COND_TRUE@``/``@COND_FALSE@``) keeps both branches' lines; any other ``@VAR@`` is
    left empty (a configure result: a kernel path, a flag)."""
    top = next(
        (
            d
            for d in (directory, *directory.parents)
            if (d / "configure").is_file() or (d / "configure.ac").is_file()
        ),
        root,
    )
    if not top.is_relative_to(root):
        top = root
    up = os.path.relpath(top, directory)
    known = {
        "abs_srcdir": str(directory),
        "abs_builddir": str(directory),
        "srcdir": ".",
        "builddir": ".",
        "abs_top_srcdir": str(top),
        "abs_top_builddir": str(top),
        "top_srcdir": up,
        "top_builddir": up,
        "TOP_SRCDIR": str(top / "src") if (top / "src").is_dir() else str(top),  # OpenAFS
        "TOP_OBJDIR": str(top),
    }

    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        return known.get(name, "")

    return _AUTOCONF.sub(value, text)
