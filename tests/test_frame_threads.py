"""The reader and writer threads around the video pipe: order kept, errors passed on, early stops clean."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from refocus_cli.io.frame_threads import ReadAhead, WriteBehind


class Boom(RuntimeError):
    pass


def counted(n: int, *, fail_at: int | None = None, closed: list[bool] | None = None) -> Iterator[int]:
    """0 .. n-1, raising Boom at `fail_at`; `closed` records that the generator was closed (its finally ran)."""
    try:
        for i in range(n):
            if i == fail_at:
                raise Boom(f"frame {i}")
            yield i
    finally:
        if closed is not None:
            closed.append(threading.current_thread() is not threading.main_thread())


def test_read_ahead_keeps_order_and_holds_at_most_depth() -> None:
    taken: list[int] = []

    def source() -> Iterator[int]:
        for i in range(50):
            taken.append(i)
            yield i

    with ReadAhead(source(), depth=3) as numbers:
        assert next(numbers) == 0
        time.sleep(0.2)  # the thread runs ahead as far as the queue lets it
        assert len(taken) <= 1 + 3 + 1  # the one returned, the queue, the one waiting to go in
        assert list(numbers) == list(range(1, 50))


def test_read_ahead_raises_the_sources_error_after_the_items_before_it() -> None:
    closed: list[bool] = []
    got: list[int] = []
    with pytest.raises(Boom, match="frame 4"), ReadAhead(counted(10, fail_at=4, closed=closed), depth=2) as numbers:
        for i in numbers:
            got.append(i)
    assert got == [0, 1, 2, 3]
    assert closed == [True]  # the source was closed, in the reader's thread


def test_read_ahead_stopped_early_closes_the_source_and_ends_its_thread() -> None:
    closed: list[bool] = []
    reader = ReadAhead(counted(1000, closed=closed), depth=2)
    assert [next(reader), next(reader)] == [0, 1]
    reader.close()
    assert closed == [True] and not reader._thread.is_alive()
    with pytest.raises(StopIteration):
        next(reader)


def test_write_behind_writes_everything_in_order() -> None:
    written: list[int] = []

    def slow_append(i: int) -> None:
        time.sleep(0.001)
        written.append(i)

    with WriteBehind(slow_append, depth=2) as behind:
        for i in range(40):
            behind.write(i)
    assert written == list(range(40))


def test_write_behind_raises_the_writers_error_and_writes_nothing_after_it() -> None:
    written: list[int] = []

    def write(i: int) -> None:
        if i == 3:
            raise Boom("encoder")
        written.append(i)

    behind = WriteBehind(write, depth=2)
    with pytest.raises(Boom, match="encoder"):
        for i in range(100):  # a later write (or finish) raises it
            behind.write(i)
        behind.finish()
    behind.cancel()
    assert written == [0, 1, 2] and not behind._thread.is_alive()


def test_write_behind_finish_raises_a_failure_on_the_last_item() -> None:
    def write(i: int) -> None:
        if i == 2:
            raise Boom("flush")

    with pytest.raises(Boom, match="flush"), WriteBehind(write) as behind:
        for i in range(3):
            behind.write(i)


def test_leaving_with_an_error_drops_the_queue_and_ends_the_thread() -> None:
    written: list[int] = []

    def slow(i: int) -> None:
        time.sleep(0.5)  # the interrupt comes while item 0 is being written
        written.append(i)

    with pytest.raises(KeyboardInterrupt), WriteBehind(slow, depth=4) as behind:
        for i in range(4):
            behind.write(i)
        raise KeyboardInterrupt
    assert not behind._thread.is_alive()
    assert written in ([], [0])  # at most the item being written finishes; those queued are dropped
