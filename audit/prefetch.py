"""Read ahead on a helper thread, so PostgreSQL prepares the next page on its core while
Python writes the current one on the other (exports and verification read millions of rows).

The helper thread has its own database connection, so it cannot see rows of an uncommitted
transaction: callers use it only outside ``transaction.atomic`` and read directly otherwise.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

from django.db import connection

T = TypeVar("T")
_DONE = object()


def can_prefetch() -> bool:
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def prefetched(produce: Callable[[], Iterator[T]], depth: int = 2) -> Iterator[T]:
    """Items of ``produce()``, computed up to ``depth`` items ahead on a helper thread.
    Closing the iterator early stops the helper; its errors are raised here."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in produce():
                if not put(item):
                    return
            put(_DONE)
        except Exception as exc:  # handed over and raised in the consumer
            put(exc)
        finally:
            connection.close()  # the helper thread's own connection

    helper = threading.Thread(target=run, name="kdr-prefetch", daemon=True)
    helper.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        stop.set()
        while helper.is_alive():
            try:
                items.get(timeout=0.1)
            except queue.Empty:
                pass
        helper.join()


A = TypeVar("A")


def ordered_parallel(
    inputs: Iterator[A], work: Callable[[A], T], *, workers: int = 2, depth: int = 4
) -> Iterator[T]:
    """``work(x)`` for each ``x`` of ``inputs``, run by ``workers`` helper threads (each with
    its own connection, so the database works on several cores), yielded in input order.

    At most ``depth`` results wait in memory. ``inputs`` is read in the calling thread.
    Closing the iterator early stops the helpers; their errors are raised here.
    """
    tasks: queue.Queue = queue.Queue()
    results: dict[int, tuple[bool, object]] = {}
    ready = threading.Condition()

    def run() -> None:
        try:
            while True:
                item = tasks.get()
                if item is None:
                    return
                seq, arg = item
                try:
                    outcome: tuple[bool, object] = (True, work(arg))
                except Exception as exc:  # handed over and raised in the consumer
                    outcome = (False, exc)
                with ready:
                    results[seq] = outcome
                    ready.notify_all()
        finally:
            connection.close()  # this helper thread's own connection

    helpers = [
        threading.Thread(target=run, name=f"kdr-parallel-{n}", daemon=True) for n in range(workers)
    ]
    for helper in helpers:
        helper.start()
    submitted = consumed = 0
    exhausted = False
    try:
        while True:
            while not exhausted and submitted - consumed < depth:
                try:
                    arg = next(inputs)
                except StopIteration:
                    exhausted = True
                    break
                tasks.put((submitted, arg))
                submitted += 1
            if consumed == submitted:
                return
            with ready:
                while consumed not in results:
                    ready.wait()
                ok, value = results.pop(consumed)
            consumed += 1
            if not ok:
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]
    finally:
        with tasks.mutex:
            tasks.queue.clear()
        for _helper in helpers:
            tasks.put(None)
        for helper in helpers:
            helper.join()
