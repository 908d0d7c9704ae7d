"""A small make reader, not make: what one build file defines, read statically.

Variables (``=``, ``:=``, ``+=``, ``?=``, ``!=``), the common text functions, conditionals,
``include`` and explicit rules, every word with the line that put it there. Hostile input is
bounded: include cycles and self-references are cut (and noted), and what reading one build
file may cost is capped by ``LIMITS`` (see ``MakeLimits``): a build file that meets a limit
is read no further, and the limit is a gap naming the file and line.

The stages, each a module: ``syntax`` (the shapes of make's lines, words and arguments),
``database`` (what a file defines), ``limits`` (the bounds and the budget that counts
against them), ``expansion`` (references and variables into text), ``functions`` (make's
functions), ``reader`` (lines, conditionals, includes, assignments, rules) and ``autoconf``
(``*.in`` templates). What the variables mean to Kbuild is ``gplscan.facts.kbuild``'s.
"""

from gplscan.facts.make.database import MakeDB, MakeRule, Word
from gplscan.facts.make.limits import LIMITS, Exhausted, MakeLimits
from gplscan.facts.make.reader import Reader

__all__ = ["LIMITS", "Exhausted", "MakeDB", "MakeLimits", "MakeRule", "Reader", "Word"]
