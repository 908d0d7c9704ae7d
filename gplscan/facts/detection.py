"""License detection over many files, on all cores.

Two steps, so that scancode's index (≈4 s and ≈1.4 GB to load) is loaded once, and only
when a file needs it:

1. In a pool of forked processes: each file is read once and cut into its license-bearing
   regions (:func:`~gplscan.facts.license_regions.license_regions`); files without any, and files
   whose regions known notices explain (:func:`~gplscan.facts.licenses.known_notices`),
   are answered there.
2. For the rest, this process loads the index and then forks ``jobs`` workers (fewer when
   memory is short) that share it (copy-on-write) and match a share of the regions each,
   handed to them with the fork: no file is read twice and nothing large is pickled. A few
   files are matched in this process instead.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from gplscan.errors import LicenseDetectionUnavailable
from gplscan.facts.pool import Progress, map_chunks, spreading
from gplscan.model import LicenseFinding
from gplscan.tuning import MATCHING_GC_THRESHOLDS

Detection = tuple[str | None, tuple[LicenseFinding, ...]]
NO_LICENSE: Detection = (None, ())
# fewer files than this that need scancode are matched in this process: forking workers
# and touching the shared index costs more than matching them
FORK_AT = 48
# files a task when the matching is spread over a fleet's workers: ≈30 ms each on a kernel
# tree's untagged files, so a task is ≈0.5 s, and the last ones leave no worker idle long
MATCH_CHUNK = 16
_POLL_SECONDS = 1.0
# What a forked worker adds to the shared index as it matches (its private copies of the
# pages it touches): measured on Linux 6.1's untagged files, two workers took the peak
# summed PSS from ≈1.55 GB to ≈1.75 GB. Workers are capped so that they fit in available
# memory with this much each.
WORKER_MEMORY = 512 * 1024 * 1024


def _workers(jobs: int) -> int:
    """``jobs``, or fewer when the available memory would not hold that many workers."""
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):  # pragma: no cover - not Linux
        return jobs
    return max(1, min(jobs, available // WORKER_MEMORY))


def _as_detection(found: Any) -> Detection:
    return found.expression, tuple(
        LicenseFinding(m.expression, m.start_line, m.end_line, m.rule, m.score)
        for m in found.matches
    )


# (path, its detection when answered without the index, else its regions; why it failed)
_Prepared = tuple[PurePosixPath, "Detection | None", tuple[Any, ...], "str | None"]


def _without_index(regions: tuple[Any, ...]) -> Detection | None:
    """The detection of regions that need no scancode: none at all, or known notices."""
    from gplscan.facts.licenses import known_notices

    if not regions:
        return NO_LICENSE
    known = known_notices(regions)
    return _as_detection(known) if known is not None else None


def _prepare(batch: list[tuple[PurePosixPath, str]]) -> list[_Prepared]:
    from gplscan.facts.license_regions import license_regions

    out: list[_Prepared] = []
    for rel, abspath in batch:
        try:
            with open(abspath, "rb") as handle:
                regions = license_regions(handle.read())
        except OSError as exc:
            out.append((rel, None, (), f"not readable: {exc.strerror or exc}"))
            continue
        answered = _without_index(regions)
        out.append((rel, answered, () if answered is not None else regions, None))
    return out


def _match_batch(
    batch: list[_Prepared],
) -> list[tuple[PurePosixPath, Detection | None, str | None]]:
    """Match a chunk of regions with this process's detector (its index loaded once per
    process, and its cache of regions already matched kept from chunk to chunk): the task
    a fleet's worker runs for a spread tree. Each file's detection, or why none."""
    out: list[tuple[PurePosixPath, Detection | None, str | None]] = []
    with _BATCH_LOCK:  # one detector, its cache, for every thread of the process
        if not _BATCH_DETECTOR:
            from gplscan.facts.licenses import Detector

            _BATCH_DETECTOR.append(Detector(notices=False))
        detector = _BATCH_DETECTOR[0]
        out.extend(_matched(detector, rel, regions) for rel, _, regions, _ in batch)
    return out


_BATCH_DETECTOR: list[Any] = []
_BATCH_LOCK = threading.Lock()


def _match_share(detector: Any, share: Sequence[_Prepared], results: Any) -> None:
    """A forked worker: match its share of regions with the inherited, loaded index."""
    gc.set_threshold(*MATCHING_GC_THRESHOLDS)
    try:
        for rel, _, regions, _ in share:
            results.put(_matched(detector, rel, regions))
    finally:
        results.put(None)


def _matched(
    detector: Any, rel: PurePosixPath, regions: tuple[Any, ...]
) -> tuple[PurePosixPath, Detection | None, str | None]:
    """One file's regions matched: its detection, or why it has none (one file's failure
    is reported, the rest go on)."""
    try:
        return rel, _as_detection(detector.detect_text(regions, name=rel.name)), None
    except Exception as exc:
        return rel, None, f"license detection failed: {exc}"


class ScancodeDetector:
    """Full license detection with scancode-toolkit, one detector per scan.

    scancode is imported, and its license index loaded, only when a file has license text
    that known notices do not explain; identical license regions are matched once per
    process (the detector's cache).
    """

    def __init__(self) -> None:
        self._detector: Any = None

    @property
    def index_loaded(self) -> bool:
        return self._detector is not None and bool(self._detector.index_loaded)

    def _loaded(self) -> Any:
        from gplscan.facts.licenses import Detector

        if self._detector is None:
            self._detector = Detector(notices=False)  # known notices were tried already
        try:
            self._detector.load_index()
        except LicenseDetectionUnavailable as exc:
            raise LicenseDetectionUnavailable(
                f"license detection unavailable, license left unknown: {exc}"
            ) from exc
        return self._detector

    def __call__(self, path: Path) -> Detection:
        """One file (raises OSError when it cannot be read)."""
        from gplscan.facts.license_regions import license_regions

        regions = license_regions(path.read_bytes())
        answered = _without_index(regions)
        if answered is not None:
            return answered
        return _as_detection(self._loaded().detect_text(regions, name=path.name))

    def detect_many(
        self,
        files: Sequence[tuple[PurePosixPath, str]],
        jobs: int,
        progress: Progress,
    ) -> tuple[dict[PurePosixPath, Detection], dict[PurePosixPath, str], str | None]:
        """Detections of ``files`` ((path, absolute path) pairs), why others failed, and why
        scancode could not run when files needed it (their licenses are then left unknown;
        the files that did not need it keep their detections)."""
        detections: dict[PurePosixPath, Detection] = {}
        failed: dict[PurePosixPath, str] = {}
        pending: list[_Prepared] = []
        for item in map_chunks(_prepare, files, jobs, progress, "licenses"):
            rel, answered, _, error = item
            if error is not None:
                failed[rel] = error
            elif answered is not None:
                detections[rel] = answered
            else:
                pending.append(item)
        if not pending:
            return detections, failed, None
        try:
            detector = self._loaded()
        except LicenseDetectionUnavailable as exc:
            return detections, failed, str(exc)
        progress("scancode", 0, len(pending))
        workers = _workers(jobs)
        if spreading():  # a fleet's large tree: matched on the cluster's workers
            for rel, detection, error in map_chunks(
                _match_batch, pending, jobs, progress, "scancode", MATCH_CHUNK
            ):
                if detection is not None:
                    detections[rel] = detection
                else:
                    failed[rel] = error or "license detection failed"
        elif workers <= 1 or len(pending) < FORK_AT:
            for done, (rel, _, regions, _) in enumerate(pending, 1):
                detections[rel] = _as_detection(detector.detect_text(regions, name=rel.name))
                progress("scancode", done, len(pending))
        else:
            match_in_workers(detector, pending, workers, progress, detections, failed)
        return detections, failed, None


def match_in_workers(
    detector: Any,
    pending: Sequence[_Prepared],
    jobs: int,
    progress: Progress,
    detections: dict[PurePosixPath, Detection],
    failed: dict[PurePosixPath, str],
) -> None:
    """Match the regions of ``pending`` in ``jobs`` forked workers that share ``detector``'s
    loaded index; put each file's detection in ``detections``, or why it has none in
    ``failed`` (a worker that dies leaves its unfinished files failed with that reason)."""
    import multiprocessing  # here: most runs fork no matcher
    import queue as queue_module

    context = multiprocessing.get_context("fork")
    results = context.Queue()
    # interleaved shares: files of one directory (often one license header) spread out
    shares = [pending[i::jobs] for i in range(jobs)]
    workers = [
        context.Process(target=_match_share, args=(detector, share, results), daemon=True)
        for share in shares
    ]
    for worker in workers:
        worker.start()
    running = len(workers)
    done = 0
    try:
        while running:
            try:
                message = results.get(timeout=_POLL_SECONDS)
            except queue_module.Empty:
                if all(not w.is_alive() for w in workers) and results.empty():
                    break  # a worker died without saying so (killed, out of memory)
                continue
            if message is None:
                running -= 1
                continue
            rel, detection, error = message
            if detection is not None:
                detections[rel] = detection
            else:
                failed[rel] = error
            done += 1
            progress("scancode", done, len(pending))
    finally:
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.kill()
        results.close()
        with contextlib.suppress(Exception):
            results.join_thread()
    for rel, _, _, _ in pending:
        if rel not in detections and rel not in failed:
            failed[rel] = "license detection worker stopped before this file"
