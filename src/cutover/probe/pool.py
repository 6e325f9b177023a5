"""A fixed pool of daemon worker threads: how probes and their requests run concurrently
without a thread started (and joined) per probe or per request."""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import TypeVar

__all__ = ["WorkerPool"]

T = TypeVar("T")
R = TypeVar("R")


class WorkerPool:
    """A fixed number of daemon threads taking calls from one queue, each call's result in a
    Future. Daemon threads: a run stopped with Ctrl-C exits without waiting for them;
    `stop()` cancels what has not started."""

    def __init__(self, workers: int, name: str) -> None:
        self.workers = workers
        self._name = name
        self._queue: queue.SimpleQueue[tuple[Future[object], Callable[[], object]] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopped = False

    def submit(self, call: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._stopped:
                future.cancel()
                return future
            # Threads start as work arrives, up to the pool's size.
            if len(self._threads) < self.workers:
                thread = threading.Thread(target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
            self._queue.put((future, call))  # type: ignore[arg-type]
        return future

    def map(self, call: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """call(item) for every item on the pool; the results in the items' order (the first
        exception is raised)."""
        futures = [self.submit(functools.partial(call, item)) for item in items]
        return [future.result() for future in futures]

    def _work(self) -> None:
        while True:
            entry = self._queue.get()
            if entry is None:
                return
            future, call = entry
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as exc:
                future.set_exception(exc)

    def stop(self) -> None:
        """Cancel every call not yet started; the workers end when they are idle."""
        with self._lock:
            self._stopped = True
            while True:
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
                if entry is not None:
                    entry[0].cancel()
            for _ in self._threads:
                self._queue.put(None)
