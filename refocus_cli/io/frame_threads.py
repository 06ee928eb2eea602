"""Decode ahead of the render and encode behind it: a reader thread and a writer thread around the video pipe.

PyAV releases the GIL while it decodes, converts and encodes, so a clip's next frames are decoded and its last
ones encoded while the render works on the current one. Both sides keep order (one thread, one FIFO queue),
hold at most `depth` frames, and pass errors on: a failure in the reader is raised by the `next()` that would
have returned the frame, one in the writer by the next `write()` or by `finish()`. Stopping early (an error in
the pipe, Ctrl-C) stops the threads and closes the source in its own thread; nothing waits for the rest of a
clip.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

POLL_S = 0.05
"""How often a thread blocked on a full or empty queue looks whether the other side stopped, seconds."""
DEPTH = 4
"""Frames held by default between a thread and the pipe."""

_END = object()


class _Failure:
    """An exception raised in a thread, carried across the queue."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class ReadAhead(Generic[T]):
    """Iterate `source` on a thread, up to `depth` items ahead of the consumer; use it as a context manager
    (or call `close`) so an early stop ends the thread.

    Items come out in the source's order; an exception raised by the source is raised by `next()` in the
    consumer, after the items before it. `close()` stops the thread and, in that thread, closes the source
    (a generator's `close`, so a `with` inside it releases its file).

    >>> with ReadAhead(iter(range(5)), depth=2) as numbers:
    ...     list(numbers)
    [0, 1, 2, 3, 4]
    """

    def __init__(self, source: Iterator[T], *, depth: int = DEPTH, name: str = "refocus-read-ahead") -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._run, args=(source,), name=name, daemon=True)
        self._thread.start()

    def _run(self, source: Iterator[T]) -> None:
        try:
            for item in source:
                if not self._offer(item):
                    return
            self._offer(_END)
        except BaseException as error:  # carried to the consumer, raised there
            self._offer(_Failure(error))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    def _offer(self, entry: object) -> bool:
        """Put `entry` on the queue unless the consumer stopped; whether it went in."""
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> ReadAhead[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        while True:
            try:
                entry = self._queue.get(timeout=POLL_S)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    self._finished = True
                    raise StopIteration from None  # stopped by close()
        if entry is _END or isinstance(entry, _Failure):
            self.close()
            if isinstance(entry, _Failure):
                raise entry.error
            raise StopIteration
        return entry  # type: ignore[return-value]

    def close(self) -> None:
        """Stop reading ahead: the thread ends (after the item it is decoding) and closes the source."""
        self._finished = True
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=POLL_S)
        self._thread.join()

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class WriteBehind(Generic[T]):
    """Call `write(item)` on a thread, in order, up to `depth` items behind the producer; a context manager.

    `write` returns as soon as the item is queued (it waits while `depth` are). A leaving `with` without an
    exception waits for every item to be written (`finish`); with one, the items not yet written are dropped
    (`cancel`) so the writer under it can be aborted at once. An exception raised by the writing function is
    raised by the next `write` or by `finish`; items after it are not written.

    >>> written = []
    >>> with WriteBehind(written.append, depth=2) as behind:
    ...     for n in range(5):
    ...         behind.write(n)
    >>> written
    [0, 1, 2, 3, 4]
    """

    def __init__(self, write: Callable[[T], None], *, depth: int = DEPTH, name: str = "refocus-write-behind") -> None:
        self._write = write
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._cancel = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if self._failure is not None or self._cancel.is_set():
                continue  # drop: the producer learns of the failure, or is leaving
            try:
                self._write(item)  # type: ignore[arg-type]
            except BaseException as error:  # raised in the producer by write() or finish()
                self._failure = error

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def write(self, item: T) -> None:
        """Queue `item` for writing; raises the writer's exception if an earlier item failed."""
        self._raise_failure()
        if not self._thread.is_alive():
            raise ValueError("the writer thread has finished")
        while True:
            try:
                self._queue.put(item, timeout=POLL_S)
                return
            except queue.Full:
                self._raise_failure()

    def _stop(self) -> None:
        while self._thread.is_alive():
            try:
                self._queue.put(_END, timeout=POLL_S)
                break
            except queue.Full:
                continue
        self._thread.join()

    def finish(self) -> None:
        """Wait until every queued item is written; raises the writer's exception if one failed."""
        self._stop()
        self._raise_failure()

    def cancel(self) -> None:
        """Drop the items not yet written and end the thread (after the item being written)."""
        self._cancel.set()
        self._stop()

    def __enter__(self) -> WriteBehind[T]:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.cancel()
