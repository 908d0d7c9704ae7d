"""How Kbuild names what it builds from: the suffixes of objects (and of prebuilt objects
shipped in their place) and of sources a rule compiles or a generator writes.

``SOURCE_SUFFIXES`` is the list the build files' rules have always been read with; it is
narrower than ``gplscan.kernel_names.SOURCE_SUFFIXES`` (which adds ``.cxx`` and ``.rs``):
taking that one would make rules writing or compiling such files count as generators and
compile rules, a change of output, left for a change of its own."""

from __future__ import annotations

import re

# an object, an archive or a module, or a prebuilt object shipped to stand for one
OBJECT_LIKE = re.compile(r"\.(?:o|o_shipped|o_binary|a|ko)$|\.o_[A-Za-z0-9]+$")
# what a build file's rule compiles, or a generator rule writes
SOURCE_SUFFIXES = (".c", ".S", ".s", ".cc", ".cpp")
