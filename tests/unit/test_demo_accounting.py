"""When the demo counts every record as accounted for."""

from __future__ import annotations

import types
from typing import Any

from sdptools.demo.run import accounted_for
from sdptools.demo.tap import TapState


def parked(*ids: str) -> Any:
    return types.SimpleNamespace(ids=lambda: set(ids))


def test_every_record_stored_rejected_or_dead_lettered_is_accounted_for() -> None:
    state = TapState()
    state.ids["stored"].update({"a", "b"})
    state.rejected.add("c")
    assert not accounted_for({"a", "b", "c", "d"}, state, parked())
    assert accounted_for({"a", "b", "c", "d"}, state, parked("d"))
    state.dead_lettered.add("d")
    assert accounted_for({"a", "b", "c", "d"}, state, parked())


def test_enough_ids_of_other_records_do_not_count() -> None:
    state = TapState()
    state.ids["stored"].update({"a", "x", "y"})  # x and y: traffic of another run
    assert not accounted_for({"a", "b"}, state, parked())
    state.ids["stored"].add("b")
    assert accounted_for({"a", "b"}, state, parked())
