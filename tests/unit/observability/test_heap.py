"""An execution environment settles its heap once, after its first invocation."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from localcloud import gcpolicy
from observability import heap


@pytest.fixture
def fresh() -> Iterator[None]:
    gcpolicy.restore()  # nothing else freezing in this process while it is watched
    heap.reset()
    try:
        yield
    finally:
        heap.reset()


class Node:
    other: object = None


def test_only_the_first_call_settles(fresh: None) -> None:
    kept = [Node() for _ in range(50)]
    garbage = Node()
    garbage.other = garbage  # a cycle: only a collection frees it
    probe = weakref.ref(garbage)
    del garbage
    assert heap.settle_once() is True
    assert probe() is None  # collected before freezing, not frozen with the rest
    frozen = gc.get_freeze_count()
    assert frozen > len(kept)
    assert heap.settle_once() is False
    assert gc.get_freeze_count() <= frozen  # nothing more frozen (some may have been freed)


def test_later_garbage_is_still_collected(fresh: None) -> None:
    heap.settle_once()
    garbage = Node()
    garbage.other = garbage
    probe = weakref.ref(garbage)
    del garbage
    gc.collect()
    assert probe() is None
