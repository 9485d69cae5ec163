"""The local cloud's garbage-collection policy: survivors of a full collection are
frozen (skipped by later collections), new garbage is still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from localcloud import gcpolicy


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def policy() -> Iterator[None]:
    gcpolicy.restore()
    try:
        yield
    finally:
        gcpolicy.restore()


def _cycle() -> Node:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a


def test_settle_freezes_what_survived(policy: None) -> None:
    kept = [_cycle() for _ in range(100)]
    assert gc.get_freeze_count() == 0
    gcpolicy.settle()
    assert gc.get_freeze_count() >= 200
    assert all(gc.is_tracked(k) for k in kept)


def test_survivors_of_a_full_collection_are_frozen(policy: None) -> None:
    gcpolicy.freeze_survivors()
    gcpolicy.freeze_survivors()  # idempotent: one callback
    assert gc.callbacks.count(gcpolicy._after_full_collection) == 1
    gc.collect(1)  # not a full collection: nothing frozen
    assert gc.get_freeze_count() == 0
    kept = [_cycle() for _ in range(100)]
    gc.collect()
    frozen = gc.get_freeze_count()
    assert frozen >= 200
    assert all(gc.is_tracked(k) for k in kept)


def test_garbage_made_after_a_freeze_is_still_collected(policy: None) -> None:
    gcpolicy.tune()
    garbage = _cycle()
    probe = weakref.ref(garbage)
    del garbage
    gc.collect()
    assert probe() is None


def test_restore_unfreezes(policy: None) -> None:
    gcpolicy.tune()
    assert gc.get_freeze_count() > 0
    gcpolicy.restore()
    assert gc.get_freeze_count() == 0
    assert gcpolicy._after_full_collection not in gc.callbacks


@pytest.mark.parametrize(("setting", "tuned"), [(None, True), ("0", False)])
def test_the_moto_server_process_applies_it(
    monkeypatch: pytest.MonkeyPatch, setting: str | None, tuned: bool
) -> None:
    import werkzeug.serving

    from localcloud import motofixes, motoserver

    calls: list[str] = []
    monkeypatch.setattr(motofixes, "apply", lambda: None)
    monkeypatch.setattr(motoserver.signal, "signal", lambda *a: None)
    monkeypatch.setattr(motoserver, "build_app", lambda metered, persist=None: object())
    monkeypatch.setattr(gcpolicy, "tune", lambda: calls.append("tune"))
    monkeypatch.setattr(werkzeug.serving, "run_simple", lambda *a, **k: calls.append("serve"))
    if setting is None:
        monkeypatch.delenv("SDP_GC_TUNE", raising=False)
    else:
        monkeypatch.setenv("SDP_GC_TUNE", setting)
    monkeypatch.setenv("MOTO_PORT", "5000")
    motoserver.main(["-H", "127.0.0.1", "-p", "5999"])
    assert calls == (["tune", "serve"] if tuned else ["serve"])
