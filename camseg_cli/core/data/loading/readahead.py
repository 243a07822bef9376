"""Read ahead of the consumer on one thread: the next batch decodes while the model runs on this one.

For loaders without worker processes (the CPU default): PNG decoding, cv2 resizing and numpy label
lookups release the GIL, so on a machine whose cores are not all busy with the forward pass the
loading cost mostly disappears. Exceptions reach the consumer at the item where they happened.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator, Sized
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()


class _Raised:
    def __init__(self, error: BaseException):
        self.error = error


class ReadAhead(Generic[T]):
    """A sized iterable (a DataLoader) read on a thread `depth` items ahead; keeps len() for progress."""

    def __init__(self, items: Sized, depth: int = 1):
        self.items, self.depth = items, depth

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[T]:
        return read_ahead(self.items, self.depth)


def read_ahead(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Yield `items` in order while a daemon thread keeps up to `depth` of them ready.

    Closing the generator early (an error or Ctrl-C in the consumer) stops the thread after the item
    it is on; `depth` < 1 iterates in the caller's thread.
    """
    if depth < 1:
        yield from items
        return
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fill() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as e:  # handed to the consumer, raised there
            put(_Raised(e))
            return
        put(_DONE)

    thread = threading.Thread(target=fill, name="camseg-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
