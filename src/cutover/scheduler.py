"""Every probe of a run in flight at once: long probes first, each on a thread of its own;
short probes in a fixed pool of workers sized for the machine; results collected in the
order pytest runs the checks.

The run then takes about as long as its longest probe, not the sum of them. Long probes
mostly wait (a silent backend, a slow stream): hundreds at once cost threads, not CPU
(measured: 1,000 at once through the lab at 500 services). Short probes each send many
requests: a few at a time keep the machine free enough that the long probes' timing does
not suffer, and a fixed pool starts a handful of threads for the whole run instead of one
per probe.
"""

from __future__ import annotations

import collections
import functools
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, wait

from cutover.checks.base import Case, Outcome, ProbeContext
from cutover.probe.pool import WorkerPool

__all__ = ["LONG_PROBE_SLOTS", "PROGRESS_INTERVAL", "ProbeScheduler", "short_probe_workers"]

# How often the terminal hears about long probes while the run waits for them.
PROGRESS_INTERVAL = 5.0
# Long probes running at once (each holds a connection and a thread while it waits).
LONG_PROBE_SLOTS = 512


def short_probe_workers(cpus: int | None = None) -> int:
    """Short probes running at once: two per core, at least 2, at most 8."""
    return max(2, min(8, (cpus if cpus is not None else os.cpu_count() or 2) * 2))


class ProbeScheduler:
    """Runs a session's probes ahead of the checks that judge them, and reports long probes."""

    def __init__(
        self,
        progress: Callable[[str], None],
        is_tty: Callable[[], bool | None],
        *,
        short_workers: int | None = None,
        long_slots: int = LONG_PROBE_SLOTS,
    ) -> None:
        """progress writes one line on the terminal; is_tty says whether it is a terminal
        (None: there is no terminal reporter, and nothing is reported)."""
        self._progress = progress
        self._is_tty = is_tty
        self.prefetched: dict[tuple[str, str], Future[Outcome]] = {}
        # Every long probe still to be reported on the terminal: case, future, start time.
        self.long_probes: dict[tuple[str, str], tuple[Case, Future[Outcome], float]] = {}
        # Keys of long probes that finished since the last report (appended by the probes' threads).
        self._finished: collections.deque[tuple[str, str]] = collections.deque()
        self._long_slots = threading.BoundedSemaphore(long_slots)
        self._short_pool = WorkerPool(short_workers or short_probe_workers(), "cutover-probe")
        self._stopping = threading.Event()

    @staticmethod
    def key(case: Case) -> tuple[str, str]:
        return case.id, case.info.kind

    def start(self, cases: Iterable[Case], context: ProbeContext) -> None:
        """Every case in flight: long ones first, each on its own thread (up to the long slots),
        then the short ones on the pool. Load runs alone, last, in its own test: never here."""
        wanted = list(cases)
        for case in wanted:
            if case.slow:
                key = self.key(case)
                future = self._run_long(case, context)
                self.prefetched[key] = future
                self.long_probes[key] = (case, future, time.monotonic())
                future.add_done_callback(lambda _, key=key: self._finished.append(key))  # type: ignore[misc]
        for case in wanted:
            if not case.slow and case.info.kind != "load":
                self.prefetched[self.key(case)] = self._short_pool.submit(functools.partial(case.run, context))

    def _run_long(self, case: Case, context: ProbeContext) -> Future[Outcome]:
        future: Future[Outcome] = Future()

        def work() -> None:
            with self._long_slots:
                if self._stopping.is_set():
                    # Resolved, so a check still waiting on it does not wait forever.
                    future.cancel()
                if not future.set_running_or_notify_cancel():
                    return
                try:
                    future.set_result(case.run(context))
                except BaseException as exc:
                    future.set_exception(exc)

        threading.Thread(target=work, name="cutover-long-probe", daemon=True).start()
        return future

    def outcome_of(self, case: Case, context: Callable[[], ProbeContext]) -> Outcome:
        """The case's outcome: the one running ahead (waited for, with progress lines), or run now."""
        future = self.prefetched.pop(self.key(case), None)
        if future is not None:
            while not wait([future], timeout=PROGRESS_INTERVAL).done:
                self.report_long_probes(waiting=True)
            self.report_long_probes()
            return future.result()
        self.report_long_probes()
        return case.run(context())

    def report_long_probes(self, waiting: bool = False) -> None:
        """Long probes on the terminal: on a TTY, how many are still running and about how long
        is left (while the run waits for one); in a log, one line per finished probe."""
        if not self.long_probes:
            return
        tty = self._is_tty()
        now = time.monotonic()
        # Only the probes that finished since the last call: this runs once per check. Drained
        # with or without a terminal, so the bookkeeping does not grow over the run.
        while self._finished:
            key = self._finished.popleft()
            entry = self.long_probes.pop(key, None)
            if entry is not None and tty is False:
                case, _, started = entry
                self._progress(f"long probe finished: {case.id} ({case.info.kind}) after {now - started:.1f} s")
        if tty and waiting and self.long_probes:
            left = [max(0.0, case.expected_seconds - (now - started)) for case, _, started in self.long_probes.values()]
            self._progress(f"waiting for {len(self.long_probes)} long probes, about {max(left):.0f} s left")

    def stop(self) -> None:
        """Probes not yet started never start; running ones are on daemon threads, so a run
        stopped with Ctrl-C does not wait out a two-minute stream before it exits."""
        self._stopping.set()
        self._short_pool.stop()
        for future in self.prefetched.values():
            future.cancel()
