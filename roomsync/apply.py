"""Carry out a plan through the client, room by room, recording what happened.

Rooms are independent, so they are applied concurrently; within a room the
actions run in the planner's order. A failure stops that room only. Every step
is idempotent against the live state the next plan reads, so whatever a crash
leaves half done, the next run finishes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Callable

from .client import Homeserver
from .errors import HomeserverError, MatrixError
from .plan import Action, CreateRoom, DeleteAlias, Plan, PutAlias, PutState, RoomPlan, SetDirectory

ROOMS_IN_PARALLEL = 8


@dataclass
class RoomResult:
    alias: str
    room_id: str | None
    status: str  # created | changed | failed | unchanged
    done: list[str] = field(default_factory=list)
    error: str | None = None
    not_attempted: list[str] = field(default_factory=list)


def describe(action: Action) -> str:
    match action:
        case CreateRoom():
            return "create room"
        case PutAlias(alias=alias):
            return f"add alias {alias}"
        case DeleteAlias(alias=alias):
            return f"delete alias {alias}"
        case PutState(event_type=event_type):
            return f"set {event_type}"
        case SetDirectory(visibility=visibility):
            return f"set directory to {visibility}"
    raise TypeError(action)


async def apply_plan(
    hs: Homeserver, plan: Plan, progress: Callable[[int, int, str], None] | None = None
) -> list[RoomResult]:
    todo = [room for room in plan.rooms if room.actions or room.errors]
    slots = asyncio.Semaphore(ROOMS_IN_PARALLEL)
    finished = 0

    async def run(room: RoomPlan) -> RoomResult:
        nonlocal finished
        async with slots:
            result = await _apply_room(hs, room)
        finished += 1
        if progress:
            progress(finished, len(todo), room.alias)
        return result

    return list(await asyncio.gather(*(run(room) for room in todo)))


async def _apply_room(hs: Homeserver, room: RoomPlan) -> RoomResult:
    result = RoomResult(room.alias, room.room_id, "created" if room.create else "changed")
    if room.errors:
        result.status = "failed"
        result.error = "; ".join(room.errors)
        result.not_attempted = [describe(a) for a in room.actions]
        return result
    for index, action in enumerate(room.actions):
        try:
            await _apply_action(hs, action, result)
        except HomeserverError as exc:
            result.status = "failed"
            result.error = str(exc)
            result.not_attempted = [describe(a) for a in room.actions[index + 1 :]]
            return result
        result.done.append(describe(action))
    return result


async def _apply_action(hs: Homeserver, action: Action, result: RoomResult) -> None:
    if isinstance(action, CreateRoom):
        result.room_id = await hs.create_room(dict(action.body))
        return
    room_id = result.room_id
    assert room_id is not None
    match action:
        case PutAlias(alias=alias):
            try:
                await hs.put_alias(alias, room_id)
            except MatrixError as exc:
                # 409: it exists already; fine if it is ours (a retried run), an error otherwise.
                if exc.status != 409 or await hs.resolve_alias(alias) != room_id:
                    raise
        case DeleteAlias(alias=alias):
            await hs.delete_alias(alias)
        case PutState(event_type=event_type, state_key=state_key, content=content):
            await hs.put_state(room_id, event_type, state_key, dict(content))
        case SetDirectory(visibility=visibility):
            await hs.set_directory(room_id, visibility)
