"""How Kbuild names what it builds from: the suffixes of objects (and of prebuilt objects
shipped in their place) and of sources a rule compiles or a generator writes.

``SOURCE_SUFFIXES`` is the build files' list; discovery (``gplscan.discover``, also
``.cxx`` and ``.rs``) and provenance (``gplscan.provenance``, also ``.rs``) keep their own,
each for what it judges."""

from __future__ import annotations

import re

# an object, an archive or a module, or a prebuilt object shipped to stand for one
OBJECT_LIKE = re.compile(r"\.(?:o|o_shipped|o_binary|a|ko)$|\.o_[A-Za-z0-9]+$")
# what a build file's rule compiles, or a generator rule writes
SOURCE_SUFFIXES = (".c", ".S", ".s", ".cc", ".cpp")
