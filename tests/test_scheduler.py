"""The probe scheduler and its worker pool, with probes that only record when they ran: long
probes start first and all at once, short ones never more than the pool's workers at once, on
a few reused threads, and each check collects its own outcome."""

from __future__ import annotations

import threading
import time
from typing import cast

import pytest

from cutover.checks.base import Case, CheckInfo, Outcome, ProbeContext
from cutover.probe.pool import WorkerPool
from cutover.scheduler import ProbeScheduler, short_probe_workers
from cutover.targets import ServiceTarget

LONG = CheckInfo(kind="timeouts", title="t", description="d", slow=True)
SHORT = CheckInfo(kind="paths", title="p", description="d")
CONTEXT = cast(ProbeContext, object())  # the probes here never read it


class Recorder:
    """Probes that note when they start and how many run at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: list[str] = []
        self.running = 0
        self.most = 0
        self.threads: set[int] = set()
        self.release = threading.Event()

    def case(self, info: CheckInfo, name: str, seconds: float = 0.0, wait_release: bool = False) -> Case:
        def run(case: Case, _: ProbeContext) -> Outcome:
            with self.lock:
                self.started.append(name)
                self.running += 1
                self.most = max(self.most, self.running)
                self.threads.add(threading.get_ident())
            if wait_release:
                self.release.wait(10)
            time.sleep(seconds)
            with self.lock:
                self.running -= 1
            return Outcome(evidence={"name": name})

        return Case(info, ServiceTarget(name=name, host=f"{name}.test", wave=1), "p", {"seconds": seconds}, run)


def test_pool_runs_at_most_its_workers_on_reused_threads_and_keeps_order() -> None:
    pool = WorkerPool(3, "test-pool")
    recorder = Recorder()
    cases = [recorder.case(SHORT, f"s{i}", 0.005) for i in range(40)]
    outcomes = pool.map(lambda case: case.run(CONTEXT), cases)
    assert [o.evidence["name"] for o in outcomes] == [f"s{i}" for i in range(40)]
    assert recorder.most == 3
    assert len(recorder.threads) == 3
    pool.stop()


def test_pool_raises_the_first_error_and_stop_cancels_what_has_not_started() -> None:
    pool = WorkerPool(1, "test-pool")

    def boom(_: int) -> int:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        pool.map(boom, [1])
    gate, running = threading.Event(), threading.Event()
    first = pool.submit(lambda: running.set() or gate.wait(10))
    assert running.wait(10)
    queued = [pool.submit(lambda: 1) for _ in range(5)]
    pool.stop()
    gate.set()
    assert first.result(timeout=10) is True
    assert all(future.cancelled() for future in queued)
    assert pool.submit(lambda: 1).cancelled()


def test_long_probes_start_first_all_at_once_and_short_ones_within_the_pool() -> None:
    recorder = Recorder()
    lines: list[str] = []
    scheduler = ProbeScheduler(lines.append, lambda: False, short_workers=2)
    short = [recorder.case(SHORT, f"short{i}", 0.01) for i in range(12)]
    long = [recorder.case(LONG, f"long{i}", wait_release=True) for i in range(6)]
    scheduler.start([*short[:6], *long, *short[6:]], CONTEXT)
    deadline = time.monotonic() + 10
    while sum(name.startswith("long") for name in recorder.started) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    # Every long probe is running at once, whatever the short pool's size.
    assert recorder.running >= 6
    for case in short:
        assert scheduler.outcome_of(case, lambda: CONTEXT).evidence["name"] == case.service.name
    recorder.release.set()
    for case in long:
        assert scheduler.outcome_of(case, lambda: CONTEXT).evidence["name"] == case.service.name
    assert recorder.most <= 6 + 2
    # The short probes ran on the pool's two threads, not one thread each.
    short_threads = len(recorder.threads) - 6
    assert short_threads <= 2
    scheduler.report_long_probes()
    # In a log: one line per finished long probe, once.
    for case in long:
        assert (
            len([line for line in lines if line.startswith(f"long probe finished: {case.id} (timeouts) after ")]) == 1
        )
    assert len(lines) == 6
    scheduler.stop()


def test_a_case_not_started_ahead_runs_when_its_check_asks() -> None:
    recorder = Recorder()
    scheduler = ProbeScheduler(lambda _: None, lambda: None, short_workers=2)
    case = recorder.case(SHORT, "late")
    assert scheduler.outcome_of(case, lambda: CONTEXT).evidence["name"] == "late"
    assert recorder.started == ["late"]


def test_stop_leaves_queued_short_probes_unstarted() -> None:
    recorder = Recorder()
    scheduler = ProbeScheduler(lambda _: None, lambda: None, short_workers=2)
    cases = [recorder.case(SHORT, f"s{i}", wait_release=True) for i in range(10)]
    scheduler.start(cases, CONTEXT)
    deadline = time.monotonic() + 10
    while len(recorder.started) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    scheduler.stop()
    recorder.release.set()
    time.sleep(0.1)
    assert len(recorder.started) == 2


def test_short_probe_workers_follow_the_cores() -> None:
    assert [short_probe_workers(n) for n in (1, 2, 3, 8)] == [2, 4, 6, 8]
