"""How a run reads its rooms' state: in one pass or in two, chosen per run from the number of
joined and declared rooms and the time of one round trip to the homeserver.

- One pass: the state the planner reads, of every joined room at once (one sliding-sync list;
  without sliding sync, each joined room's state, 16 requests in flight). The answer tells which
  joined rooms are declared and already holds their state.
- Two passes: first only what tells the joined rooms apart (canonical alias and roomsync's
  marker: one sliding-sync list; without sliding sync, one filtered /sync), then the declared
  rooms' state (sliding sync, up to 1,000 rooms a request; without it, each room's state, 16 in
  flight).

One pass reads the managed state of joined rooms nobody declared; two passes cost one round trip
more and make the server handle each declared room twice. Measured on Synapse 1.163 (SQLite,
loopback), a room in a sliding-sync answer costs the server about 0.7 ms before its state and
1 ms more with the state the planner reads: one pass is the cheaper while the undeclared joined
rooms number fewer than 0.7 times the declared ones, plus one room for each millisecond of a
round trip (so on a 50 ms link, 50 rooms more). The joined rooms are asked beside whoami (the
choice needs their number): the choice costs no round trip of its own. Either way every room's state is the same set of
events; the snapshot does not depend on the choice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable

from .reads import Events, Reads

log = logging.getLogger(__name__)

LIST_SHARE = 0.7  # a room's cost in a sliding-sync answer without state, per unit of its state's cost
STATE_SECONDS = 0.001  # the server's time for one room's state


def one_pass(joined: int, declared: int, round_trip: float) -> bool:
    """Whether to read every joined room's state at once rather than pick the declared ones first."""
    undeclared = max(0, joined - declared)
    return undeclared <= LIST_SHARE * declared + round_trip / STATE_SECONDS


async def joined_rooms(hs: Reads) -> tuple[list[str], float]:
    """The joined rooms, and a round trip's time: the request goes out beside whoami, on a
    connection of its own, so it takes about two."""
    started = time.monotonic()
    joined = await hs.joined_rooms()
    return joined, (time.monotonic() - started) / 2


class RoomStates:
    """The rooms' state for one run: which rooms the account joined, what tells them apart, and the
    required state of the rooms asked for, read in one pass or two (`hs.one_pass` forces it)."""

    def __init__(self, hs: Reads, required: list[tuple[str, str]], index: list[tuple[str, str]], declared: int) -> None:
        self.hs = hs
        self.required = required  # what the planner reads of a room
        self.index = index  # enough of a room to tell which declared room it is, if any
        self.declared = declared  # rooms the config names (declared rooms, followed lists)
        self.one_pass: bool | None = None  # the choice, once made
        self._read: dict[str, Events] = {}  # the required state of the rooms read so far

    async def joined(self, asked: Awaitable[tuple[list[str], float]]) -> tuple[set[str], dict[str, Events]]:
        """The joined rooms' ids, and the index state (at least) of each one sliding sync knows.
        `asked`: joined_rooms(hs), sent beside whoami."""
        joined, round_trip = await asked
        forced = self.hs.one_pass
        self.one_pass = one_pass(len(joined), self.declared, round_trip) if forced is None else forced
        self.hs.read_passes = 1 if self.one_pass else 2
        log.info(
            "reading %s: %d joined rooms, %d declared, a round trip of %.0f ms",
            "every joined room's state in one pass" if self.one_pass else "the declared rooms' state in two passes",
            len(joined),
            self.declared,
            round_trip * 1000,
        )
        if self.one_pass:
            found = await self.hs.joined_state(self.required, joined, by_room=True)
            self._read.update(found)
        else:
            found = await self.hs.joined_state(self.index, joined)
        return set(joined) | set(found), found

    async def read(self, room_ids: set[str], required: list[tuple[str, str]] | None = None) -> dict[str, Events]:
        """The required state (or `required` instead) of these rooms: room id -> events; a room the
        account is not joined in is left out. The one pass has read the joined rooms already."""
        if required is not None:
            return await self.hs.rooms_state(sorted(room_ids), required) if room_ids else {}
        found = {room_id: self._read[room_id] for room_id in room_ids if room_id in self._read}
        rest = sorted(room_ids - set(found))
        if rest:
            fresh = await self.hs.rooms_state(rest, self.required)
            self._read.update(fresh)
            found.update(fresh)
        return found
