"""How kernel trees and their tools name things: source and header suffixes, the magic
numbers of the files gplscan reads, Kbuild's ``_shipped`` convention and object stems.

One place for them, so that every stage agrees on what a source is (discovery, the
Kbuild reader, provenance and ``--changed-since`` once each had a list of their own, and
``foo.cxx`` was a source to one and not to another). Imports nothing of gplscan: any
stage may use it.
"""

from __future__ import annotations

from pathlib import PurePosixPath

# What gcc (and rustc, for the kernel's Rust) compiles into an object.
SOURCE_SUFFIXES = frozenset({".c", ".S", ".s", ".cc", ".cpp", ".cxx", ".rs"})
HEADER_SUFFIXES = frozenset({".h", ".hh", ".hpp"})
OBJECT_SUFFIXES = frozenset({".o", ".ko", ".so", ".a"})

ELF_MAGIC = b"\x7fELF"
AR_MAGIC = b"!<arch>\n"
THIN_AR_MAGIC = b"!<thin>\n"
AR_MAGICS = (AR_MAGIC, THIN_AR_MAGIC)
XZ_MAGIC = b"\xfd7zXZ\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
COMPRESSED_MAGICS = (XZ_MAGIC, ZSTD_MAGIC, GZIP_MAGIC)

# Kbuild copies ``foo.o_shipped`` (or ``foo.c_shipped``) to ``foo.o`` (``foo.c``).
SHIPPED = "_shipped"


def object_stem(path: str | PurePosixPath) -> str:
    """``drivers/hv/vmbus.o`` -> ``drivers/hv/vmbus``: the path without its ``.o`` (a
    path not ending in ``.o`` is returned whole)."""
    text = str(path)
    return text.removesuffix(".o")
