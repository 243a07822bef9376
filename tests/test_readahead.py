"""read_ahead: same items in the same order, produced on another thread, errors raised where they happen."""

from __future__ import annotations

import threading
import time

import pytest

from camseg_cli.core.data.loading.readahead import ReadAhead, read_ahead


class Source:
    """A sized iterable that records which thread produced each item and how far it got."""

    def __init__(self, n: int, fail_at: int | None = None):
        self.n, self.fail_at = n, fail_at
        self.threads: list[int] = []
        self.produced = 0

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        for i in range(self.n):
            if i == self.fail_at:
                raise ValueError(f"item {i} is broken")
            self.threads.append(threading.get_ident())
            self.produced += 1
            yield i * i


def test_items_come_in_order_from_another_thread():
    src = Source(7)
    wrapped = ReadAhead(src, depth=2)
    assert len(wrapped) == 7
    assert list(wrapped) == [i * i for i in range(7)]
    assert set(src.threads) and threading.get_ident() not in src.threads


def test_depth_zero_stays_in_the_callers_thread():
    src = Source(3)
    assert list(read_ahead(src, depth=0)) == [0, 1, 4]
    assert set(src.threads) == {threading.get_ident()}


def test_an_error_is_raised_after_the_items_before_it():
    got = []
    with pytest.raises(ValueError, match="item 3 is broken"):
        for x in read_ahead(Source(6, fail_at=3)):
            got.append(x)
    assert got == [0, 1, 4]


def test_stopping_early_stops_the_producer():
    src = Source(1000)
    it = read_ahead(src, depth=2)
    assert next(it) == 0
    it.close()  # what a `break` or an exception in the consumer does
    before = src.produced
    time.sleep(0.3)
    assert src.produced == before <= 4  # one taken, two queued, one blocked on the full queue
    assert not any(t.name == "camseg-read-ahead" for t in threading.enumerate())
