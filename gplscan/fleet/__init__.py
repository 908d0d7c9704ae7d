"""Many targets in one run: a distribution's packages, a fleet of kernel trees.

Each target is judged exactly as ``gplscan audit PATH`` judges it alone
(:mod:`gplscan.fleet.judge`), by one task per target on an engine
(:mod:`gplscan.fleet.engines`: this process, a local process pool, or a Dask cluster);
outcomes are kept by the target's content digest (:mod:`gplscan.fleet.store`) so that a
re-run redoes only what changed, and are gathered into one report
(:mod:`gplscan.fleet.aggregate`).
"""

# The defaults a fleet run takes (``--retries``, ``--timeout``), here where the command line
# can read them without importing the engines.
RETRIES = 2  # tries after the first, for a task that raised or whose worker was lost
TIMEOUT = 3600.0  # seconds one target may run; a Linux tree takes ≈50 s cold on 2 cores
