"""Carry out a plan through the client, recording what happened.

First the bots' accounts (created, user type, profile and rate limit through the admin
API), so that a bot created here exists before any room invites or joins it. Then two
phases: every room's own actions (rooms are independent, so they run concurrently;
within a room in the planner's order), then the actions that name another room (space
links, restricted join rules), once every room id is known. Then the profiles set with a
bot's own token. A failure stops that room (or bot) only. Every step is idempotent
against the live state the next plan reads, so a crash leaves nothing the next run
cannot finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import avatars
from .actions import (
    ACCOUNT_ACTIONS,
    BOTS,
    Action,
    AdminJoin,
    Ban,
    BotPlan,
    CreateAccount,
    CreateRoom,
    DeleteAlias,
    Follow,
    Invite,
    JoinAs,
    Kick,
    MediaRef,
    MirrorJoin,
    OnMirror,
    Plan,
    PutAlias,
    PutState,
    RoomPlan,
    RoomRef,
    SetAccount,
    SetDirectory,
    SetProfile,
    SetRateLimit,
    Upgrade,
    Upload,
    references,
)
from .client import SEND_BY, Homeserver, NotSent
from .errors import HomeserverError, MatrixError, RoomsyncError
from .model import MANAGED_MARKER

ROOMS_IN_PARALLEL = 8


@dataclass
class RoomResult:
    alias: str  # a room alias, or a bot's name for profile results
    room_id: str | None
    status: str  # created | adopted (another run created it first) | upgraded | changed | failed | skipped
    #              | not started
    done: list[str] = field(default_factory=list)
    error: str | None = None
    not_attempted: list[str] = field(default_factory=list)
    own: bool = True  # the room's own state changes (not only its bots'): counted as the plan counts it
    bot_changes: int = 0  # the plan's bot changes it carries


# What the plan's status of a room becomes once applied: the words plan and sync count in.
APPLIED = {"create": "created", "upgrade": "upgraded", "retire": "retired"}


def result_for(room: RoomPlan) -> RoomResult:
    bot_changes = sum(1 for c in room.changes if c.section == BOTS)
    own = room.status != "ok"
    return RoomResult(room.alias, room.room_id, APPLIED.get(room.status, "changed"), own=own, bot_changes=bot_changes)


def describe(action: Action | MirrorJoin) -> str:
    match action:
        case Upload(path=path):
            return f"upload {path}"
        case CreateRoom():
            return "create room"
        case Upgrade(version=version):
            return f"upgrade to room version {version}"
        case PutAlias(alias=alias):
            return f"add alias {alias}"
        case DeleteAlias(alias=alias):
            return f"delete alias {alias}"
        case PutState(event_type=event_type, state_key=RoomRef(alias=alias)):
            return f"set {event_type} for {alias}"
        case PutState(event_type=event_type):
            return f"set {event_type}"
        case SetDirectory(visibility=visibility):
            return f"set directory to {visibility}"
        case Invite(user=user):
            return f"invite {user}"
        case JoinAs(user=user):
            return f"join as {user}"
        case Kick(user=user):
            return f"kick {user}"
        case Ban(user=user):
            return f"ban {user}"
        case Follow(target=target):
            return f"join {target} to follow it"
        case SetProfile(user=user):
            return f"set profile of {user}"
        case AdminJoin(user=user):
            return f"join {user} (admin API)"
        case CreateAccount(user=user):
            return f"create account {user}"
        case SetAccount(user=user, user_type=user_type, display_name=display_name, avatar=avatar):
            fields = [n for n, v in (("user type", user_type), ("display name", display_name), ("avatar", avatar)) if v]
            return f"set {', '.join(fields)} of {user}"
        case SetRateLimit(user=user, exempt=exempt):
            return f"exempt {user} from rate limits" if exempt else f"remove the rate-limit override of {user}"
        case MirrorJoin():
            return "join"
        case OnMirror(action=inner):  # its result is the mirror's, named [server] #room
            return describe(inner)
    raise TypeError(action)


NOT_STARTED = "not started"  # the time budget was spent before the room's first request went out
_NONE = RoomResult("", None, "")


def _room_refs(values: Any) -> set[RoomRef]:
    """Every RoomRef inside actions (state keys and contents)."""
    found: set[RoomRef] = set()
    stack = list(values)
    while stack:
        value = stack.pop()
        if isinstance(value, RoomRef):
            found.add(value)
        elif isinstance(value, PutState):
            stack += [value.state_key, value.content]
        elif isinstance(value, Mapping):
            stack += list(value.values())
        elif isinstance(value, (list, tuple)):
            stack += list(value)
    return found


class _Run:
    def __init__(
        self,
        hs: Homeserver,
        plan: Plan,
        bot_token: Callable[[str], str | None],
        mirrors: Mapping[str, Homeserver] | None = None,
    ):
        self.hs = hs
        self.mirrors = mirrors or {}  # server name -> a client with the mirror's own token
        self.bot_token = bot_token
        self.room_ids: dict[str, str] = {r.alias: r.room_id for r in plan.rooms if r.room_id}
        self.bot_clients: dict[str, Homeserver] = {}
        self.stack = AsyncExitStack()
        self.failed_accounts: dict[str, str] = {}  # user -> why its account could not be made right
        self.uploads: dict[str, asyncio.Future[str]] = {}  # sha256 -> the upload of that file, one per run
        self.media: dict[str, str] = {}  # sha256 -> the mxc:// URI its upload got

    async def upload(self, action: Upload) -> None:
        """Upload an avatar file, once however many rooms and bots use it."""
        if action.sha256 not in self.uploads:
            self.uploads[action.sha256] = asyncio.ensure_future(self._upload(action))
        self.media[action.sha256] = await self.uploads[action.sha256]

    async def _upload(self, action: Upload) -> str:
        try:
            data = avatars.read_checked(action.source, action.sha256, action.path)
        except (OSError, ValueError) as exc:
            raise RoomsyncError(f"cannot upload {action.path}: {exc}") from None
        return await self.hs.upload(data, action.mime, Path(action.path).name)

    async def as_bot(self, token_env: str) -> Homeserver:
        if token_env not in self.bot_clients:
            token = self.bot_token(token_env)
            if not token:
                raise RoomsyncError(f"environment variable {token_env} (a bot's token) is not set")
            self.bot_clients[token_env] = await self.stack.enter_async_context(
                Homeserver(self.hs.base_url, token, self.hs.policy, token_source=token_env)
            )
        return self.bot_clients[token_env]

    async def wait_until_created(self, room_id: str, alias: str, timeout: float = 60.0) -> None:
        """Synapse creates the alias before the room's initial state: writing before that state is
        in place would be overwritten, so wait (bounded) for roomsync's marker, sent last."""
        deadline = asyncio.get_running_loop().time() + timeout
        while await self.hs.state_event(room_id, MANAGED_MARKER) is None:
            if asyncio.get_running_loop().time() > deadline:
                raise RoomsyncError(
                    f"{alias} was taken by a room ({room_id}) that roomsync cannot see finish "
                    "being created; the next run will adopt it"
                )
            await asyncio.sleep(0.5)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, MediaRef):
            if value.sha256 not in self.media:
                raise RoomsyncError("an avatar file was not uploaded (its upload failed)")
            return self.media[value.sha256]
        if isinstance(value, RoomRef):
            if value.alias not in self.room_ids:
                raise RoomsyncError(f"{value.alias} does not exist (its creation failed or was skipped)")
            return self.room_ids[value.alias]
        if isinstance(value, Mapping):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.resolve(v) for v in value]
        return value

    async def room_actions(
        self, room: RoomPlan, actions: list[Action], result: RoomResult, start_by: float | None = None
    ) -> None:
        """The room's actions in order; the first is not sent after start_by (a time budget)."""
        server = actions[0].server if actions and isinstance(actions[0], OnMirror) else None
        hs = self.mirrors.get(server or "", self.hs)
        for index, action in enumerate(actions):
            if hs.unavailable and result.status != "failed" and not result.done:
                result.status, result.error = "skipped", hs.unavailable  # stop: nothing more is sent
            if result.status in ("failed", "skipped"):
                result.not_attempted += [describe(a) for a in actions[index:]]
                return
            bound = SEND_BY.set(start_by if index == 0 else None)
            try:
                await self.action(action, result)
                result.done.append(describe(action))
            except NotSent:
                result.status, result.not_attempted = NOT_STARTED, [describe(a) for a in room.actions]
                return
            except (HomeserverError, RoomsyncError) as exc:
                result.status, result.error = "failed", str(exc)
            finally:
                SEND_BY.reset(bound)

    async def action(self, action: Action, result: RoomResult) -> None:
        if isinstance(action, OnMirror):
            await self.on_mirror(action, result)
            return
        hs = self.hs
        if isinstance(action, Upload):
            await self.upload(action)
            return
        if isinstance(action, CreateRoom):
            try:
                result.room_id = await hs.create_room(self.resolve(action.body))
            except MatrixError as exc:
                # Another sync created it first (the alias is taken): adopt that room and carry on.
                taken = exc.errcode == "M_ROOM_IN_USE" or exc.status == 409
                if not taken or not (winner := await hs.resolve_alias(result.alias)):
                    raise
                await self.wait_until_created(winner, result.alias)
                result.room_id, result.status = winner, "adopted"
            self.room_ids[result.alias] = result.room_id
            return
        room_id = result.room_id
        assert room_id is not None
        if isinstance(action, Upgrade):
            # Synapse moves the aliases and the directory entry and tombstones the old room; the
            # rest of the new room is planned again once it can be read (see apply_plan's caller).
            result.room_id = self.room_ids[result.alias] = await hs.upgrade_room(
                room_id, action.version, action.creators
            )
            if action.marker:  # the marker goes with the room (an upgrade does not copy it)
                await hs.put_state(result.room_id, MANAGED_MARKER, "", dict(action.marker))
            result.status = "upgraded"
            return
        match action:
            case PutAlias(alias=alias):
                await _put_alias(hs, alias, room_id)
            case DeleteAlias(alias=alias):
                await hs.delete_alias(alias)
            case PutState(event_type=event_type, state_key=state_key, content=content):
                await hs.put_state(room_id, event_type, self.resolve(state_key), self.resolve(content))
            case SetDirectory(visibility=visibility):
                await hs.set_directory(room_id, visibility)
            case Invite(user=user):
                try:
                    await hs.invite(room_id, user)
                except MatrixError as exc:  # already invited or joined (a retried or racing run) is done
                    if exc.status != 403 or await hs.membership(room_id, user) not in ("invite", "join"):
                        raise
            case JoinAs(token_env=token_env):
                await (await self.as_bot(token_env)).join(room_id)
            case AdminJoin(user=user):
                if user in self.failed_accounts:
                    raise RoomsyncError(f"{user} was not joined: {self.failed_accounts[user]}")
                await hs.admin.join(room_id, user)
            case Kick(user=user, reason=reason):
                try:
                    await hs.kick(room_id, user, reason)
                except MatrixError as exc:
                    if exc.status != 403 or await hs.membership(room_id, user) in ("invite", "join"):
                        raise
            case Ban(user=user, reason=reason):
                try:
                    await hs.ban(room_id, user, reason)
                except MatrixError as exc:  # banned already (a retried or racing run) is done
                    if exc.status != 403 or await hs.membership(room_id, user) != "ban":
                        raise
            case Follow(target=target):
                await hs.join(target, remote=True)

    async def on_mirror(self, action: OnMirror, result: RoomResult) -> None:
        """A mirror's part of the room, with the mirror's own token."""
        if action.server not in self.mirrors:
            raise RoomsyncError(f"{action.server} was not read this run: nothing is sent to it")
        hs, room_id = self.mirrors[action.server], result.room_id
        if room_id is None:
            raise RoomsyncError("the room does not exist (its creation failed or was skipped)")
        match action.action:
            case MirrorJoin(via=via):
                await hs.join(room_id, via=via)
            case PutAlias(alias=alias):
                await _put_alias(hs, alias, room_id)
            case DeleteAlias(alias=alias):
                await hs.delete_alias(alias)
            case SetDirectory(visibility=visibility):
                await hs.set_directory(room_id, visibility)


async def _put_alias(hs: Homeserver, alias: str, room_id: str) -> None:
    try:
        await hs.put_alias(alias, room_id)
    except MatrixError as exc:
        # 409: it exists already; fine if it is ours (a retried run), an error otherwise.
        if exc.status != 409 or await hs.resolve_alias(alias) != room_id:
            raise


async def apply_plan(
    hs: Homeserver,
    plan: Plan,
    bot_token: Callable[[str], str | None] = lambda _name: None,
    progress: Callable[[int, int, str, str], None] | None = None,
    deadline: float | None = None,
    mirrors: Mapping[str, Homeserver] | None = None,
) -> list[RoomResult]:
    """Run the plan. `deadline` (event-loop time): no room starts after it; rooms in flight finish.
    `mirrors`: a client per mirror homeserver, for the mirrors' part (after the home server's).

    Rooms run ROOMS_IN_PARALLEL at a time until the homeserver rate-limits the account; then
    new rooms start one at a time (their requests would only queue at the limiter anyway), so
    that a time budget stops the run close to where it was asked to.
    """
    run = _Run(hs, plan, bot_token, mirrors)
    todo = [room for room in plan.rooms if _home_actions(room) or room.errors]
    results = {room.alias: result_for(room) for room in todo}
    wide, narrow = asyncio.Semaphore(ROOMS_IN_PARALLEL), asyncio.Lock()
    finished = 0

    def done(room: RoomPlan, status: str) -> None:
        nonlocal finished
        finished += 1
        if progress:
            progress(finished, len(todo), room.alias, status)

    async def start(room: RoomPlan, result: RoomResult, actions: list[Action]) -> None:
        if deadline is not None and asyncio.get_running_loop().time() > deadline:
            result.status, result.not_attempted = NOT_STARTED, [describe(a) for a in room.actions]
            return
        await run.room_actions(room, actions, result, start_by=deadline)
        if result.status != NOT_STARTED:
            done(room, result.status)

    async def own_actions(room: RoomPlan) -> None:
        result = results[room.alias]
        if room.errors:
            result.status, result.error = "failed", "; ".join(room.errors)
            result.not_attempted = [describe(a) for a in room.actions]
            done(room, "skipped: it cannot be synced")
            return
        actions = [a for a in _home_actions(room) if not references(a)]
        async with wide:
            if hs.rate_limited:
                async with narrow:
                    await start(room, result, actions)
            else:
                await start(room, result, actions)

    async def links(room: RoomPlan) -> None:
        """Actions naming other rooms, once they exist; those naming a room not started wait."""
        result = results[room.alias]
        if room.errors or result.status == NOT_STARTED:
            return
        mine = _home_actions(room)
        waiting = {a.alias for a in _room_refs(mine) if results.get(a.alias, _NONE).status == NOT_STARTED}
        actions = [a for a in mine if references(a) and not (_room_refs([a]) & {RoomRef(w) for w in waiting})]
        result.not_attempted += [
            f"{describe(a)} (waits for a room not started)" for a in mine if references(a) and a not in actions
        ]
        async with wide:
            await run.room_actions(room, actions, result)

    bots = [bot for bot in plan.bots if bot.actions or bot.errors]
    bot_results = {
        bot.name: RoomResult(
            f"bot {bot.name}", None, "created" if bot.create else "changed", own=False, bot_changes=len(bot.changes)
        )
        for bot in bots
    }
    async with run.stack:
        await asyncio.gather(*(_bot_accounts(run, bot, bot_results[bot.name]) for bot in bots))
        await asyncio.gather(*(own_actions(room) for room in todo))
        await asyncio.gather(*(links(room) for room in todo))
        mirrored = await _mirror_parts(run, plan, results, wide, deadline)
        for bot in bots:
            await _bot_profile(run, bot, bot_results[bot.name])
    return list(results.values()) + mirrored + list(bot_results.values())


def _home_actions(room: RoomPlan) -> list[Action]:
    return [a for a in room.actions if not isinstance(a, OnMirror)]


async def _mirror_parts(
    run: _Run, plan: Plan, home: dict[str, RoomResult], wide: asyncio.Semaphore, deadline: float | None
) -> list[RoomResult]:
    """Each mirror's part of each room, once the home server's part is done (a room it created,
    an invite it sent). A mirror that fails stops its own part only. The time budget holds here
    too: no part starts after `deadline`."""
    parts = []
    for room in plan.rooms:
        for server in dict.fromkeys(a.server for a in room.actions if isinstance(a, OnMirror)):
            actions: list[Action] = [a for a in room.actions if isinstance(a, OnMirror) and a.server == server]
            done_home = home.get(room.alias)
            result = RoomResult(f"[{server}] {room.alias}", done_home.room_id if done_home else room.room_id, "changed")
            parts.append((room, actions, result, done_home))

    async def one(room: RoomPlan, actions: list[Action], result: RoomResult, done_home: RoomResult | None) -> None:
        if room.errors or (done_home and done_home.status in ("failed", "skipped", NOT_STARTED) and not result.room_id):
            result.status, result.error = "skipped", "the home server's part of the room did not go through"
            result.not_attempted = [describe(a) for a in actions]
            return
        async with wide:
            if deadline is not None and asyncio.get_running_loop().time() > deadline:
                result.status, result.not_attempted = NOT_STARTED, [describe(a) for a in actions]
                return
            await run.room_actions(room, actions, result, start_by=deadline)

    await asyncio.gather(*(one(*part) for part in parts))
    return [result for _room, _actions, result, _home in parts]


async def _bot_profile(run: _Run, bot: BotPlan, result: RoomResult) -> None:
    """A bot's profile, set with its own token, after its rooms (it may have just joined them)."""
    for action in bot.actions:
        if not isinstance(action, SetProfile):
            continue
        if result.status == "failed":
            result.not_attempted.append(describe(action))
            continue
        try:
            client = await run.as_bot(action.token_env)
            await client.set_profile(action.user, action.display_name, run.resolve(action.avatar))
            result.done.append(describe(action))
        except (HomeserverError, RoomsyncError) as exc:
            result.status, result.error = "failed", str(exc)


async def _bot_accounts(run: _Run, bot: BotPlan, result: RoomResult) -> None:
    """A bot's account actions, before any room: a bot created here must exist before it is invited."""
    if bot.errors:
        result.status, result.error = "failed", "; ".join(bot.errors)
        result.not_attempted = [describe(a) for a in bot.actions]
        run.failed_accounts[bot.user] = "its account cannot be synced (see the bot's errors)"
        return
    hs = run.hs
    actions = [a for a in bot.actions if isinstance(a, (*ACCOUNT_ACTIONS, Upload))]
    for index, action in enumerate(actions):
        try:
            match action:
                case Upload():
                    await run.upload(action)
                case CreateAccount(user=user, display_name=display_name, avatar=avatar):
                    await hs.admin.create_bot(user, display_name, run.resolve(avatar))
                case SetAccount(user=user, user_type=user_type, display_name=display_name, avatar=avatar):
                    avatar_url = run.resolve(avatar)
                    await hs.admin.update_user(
                        user, user_type=user_type, displayname=display_name, avatar_url=avatar_url
                    )
                case SetRateLimit(user=user, exempt=exempt):
                    await hs.admin.set_rate_limit_exempt(user, exempt)
            result.done.append(describe(action))
        except (HomeserverError, RoomsyncError) as exc:
            result.status, result.error = "failed", str(exc)
            result.not_attempted = [describe(a) for a in actions[index + 1 :]]
            if bot.create and not result.done:
                run.failed_accounts[bot.user] = f"its account could not be created ({exc})"
            return
