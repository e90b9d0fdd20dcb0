"""Planning stays linear in the number of rooms: the work per room (counted in Python function
calls, which do not depend on the machine's speed) is the same for 100 rooms as for 1,000."""

from __future__ import annotations

import cProfile
import dataclasses
import pstats

from roomsync.live import Snapshot
from roomsync.model import BotSpec, Config
from roomsync.plan import make_plan
from tests.unit.planning import alias, config, room, snapshot, spec


def community(rooms: int) -> tuple[Config, Snapshot]:
    """`rooms` declared rooms, one in twenty a space holding the others, each with an alt alias,
    four bots in every room; live rooms as the homeserver would hold them."""
    spaces = max(1, rooms // 20)
    specs, live = [], {}
    for i in range(rooms):
        if i < spaces:
            entry = spec(f"space{i}", type="space", name=f"Space {i}", alt_aliases=[f"space{i}-alt"])
        else:
            entry = spec(
                f"room{i}", name=f"Room {i}", topic="t", alt_aliases=[f"room{i}-alt"], spaces=[f"space{i % spaces}"]
            )
        specs.append(entry)
        live[entry.alias] = room(
            room_id=f"!{entry.alias}:opendev.org",
            canonical=alias(entry.alias),
            alt_aliases=[alias(a) for a in entry.alt_aliases or ()],
        )
    bots = tuple(BotSpec(f"bot{b}", f"@bot{b}:opendev.org", ("*",), 50) for b in range(4))
    return dataclasses.replace(config(*specs), bots=bots), snapshot(live)


def calls_per_room(rooms: int) -> float:
    cfg, snap = community(rooms)
    profile = cProfile.Profile()
    profile.enable()
    plan = make_plan(cfg, snap)
    profile.disable()
    assert len(plan.rooms) == rooms
    return pstats.Stats(profile).total_calls / rooms  # type: ignore[attr-defined]


def test_the_work_per_room_does_not_grow_with_the_number_of_rooms() -> None:
    small, large = calls_per_room(100), calls_per_room(1000)
    assert large <= small * 1.05, (small, large)
