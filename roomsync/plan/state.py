"""`state:`: the other state events a room declares, each (type, state_key) managed exactly."""

from __future__ import annotations

from typing import Any

from .. import otherstate
from ..actions import PutState
from ..live import LiveRoom
from ..model import RoomSpec
from .scope import Draft


def for_new_room(spec: RoomSpec, draft: Draft) -> list[dict[str, Any]]:
    """The declared events of a new room, for its initial_state (a removal has nothing to remove)."""
    events = []
    for entry in otherstate.declared(spec.get("state")):
        if entry.content is not None:
            events.append({"type": entry.event_type, "state_key": entry.state_key, "content": dict(entry.content)})
            draft.change(entry.field, None, dict(entry.content))
    return events


def plan_state(spec: RoomSpec, live: LiveRoom, draft: Draft) -> None:
    """Each declared event as it is declared; `content: null` empties one the room has."""
    for entry in otherstate.declared(spec.get("state")):
        have = live.content(entry.event_type, entry.state_key)
        have = dict(have) if have else None
        want = None if entry.content is None else dict(entry.content)
        if have != want:
            draft.change(entry.field, have, want, PutState(entry.event_type, entry.state_key, want or {}))
