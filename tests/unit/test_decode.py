"""Decoding the homeserver's answers: a large one with the garbage collector paused, and only then."""

from __future__ import annotations

import gc
import json
from typing import Any

from roomsync.client.transport import LARGE_ANSWER, _decode


def collections_while(decode: str) -> tuple[Any, int]:
    """The decoded answer, and how many collections ran meanwhile (one due every few allocations)."""
    seen: list[str] = []

    def callback(phase: str, _info: dict[str, int]) -> None:
        seen.append(phase)

    threshold = gc.get_threshold()
    gc.callbacks.append(callback)
    gc.set_threshold(10)
    try:
        answer = _decode(decode)
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(callback)
    return answer, seen.count("start")


def test_a_large_answer_is_decoded_without_collections_and_the_collector_left_as_it_was() -> None:
    rooms = {
        f"!r{i}:example.org": {"required_state": [{"type": "m.room.name", "content": {"name": "x"}}]}
        for i in range(20000)
    }
    text = json.dumps({"rooms": rooms})
    assert len(text) >= LARGE_ANSWER
    assert collections_while(text) == ({"rooms": rooms}, 0)
    assert gc.isenabled()
    gc.disable()
    try:
        assert _decode(text) == {"rooms": rooms}
        assert not gc.isenabled(), "a collector someone else paused stays paused"
    finally:
        gc.enable()
    small = {"rooms": [[i] for i in range(200)]}
    answer, collections = collections_while(json.dumps(small))
    assert answer == small and collections > 0, "a small answer is decoded with the collector on"


def test_empty_and_broken_bodies() -> None:
    assert _decode("") == {} and _decode("  \n") == {}
    assert _decode("<html>" + " " * LARGE_ANSWER) is None
    assert gc.isenabled()
