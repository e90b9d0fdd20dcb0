"""The bots of bots.yaml: their memberships in the rooms they serve, and their profiles."""

from __future__ import annotations

from ..actions import BOTS, BotPlan, Change, Invite, JoinAs, Kick, SetProfile
from ..live import LiveRoom, Snapshot
from ..model import BotSpec, RoomSpec
from .scope import Draft, Scope


def _missing_token(bot: BotSpec, what: str) -> str:
    return f"{bot.token_env} is not set here; sync needs it to {what} {bot.user} ({bot.name})"


def plan_new_member(scope: Scope, bot: BotSpec, draft: Draft, membership: str | None = None) -> None:
    """Get a bot that is not in the room in: joined with its token, otherwise invited."""
    field_name = f"member.{bot.user}"
    invite = (Invite(bot.user),) if membership != "invite" else ()
    if bot.token_env:
        draft.change(field_name, membership, "join", *invite, JoinAs(bot.user, bot.token_env), section=BOTS)
        if scope.token_missing(bot):
            draft.notes.append(_missing_token(bot, "join"))
    elif invite:
        draft.change(field_name, membership, "invite", *invite, section=BOTS)
        draft.notes.append(f"{bot.user} ({bot.name}) will be invited and joins by itself")
    else:
        draft.notes.append(f"{bot.user} ({bot.name}) is invited and has no token_env: "
                           "pending until it accepts by itself")


def plan_memberships(scope: Scope, spec: RoomSpec, live: LiveRoom, draft: Draft) -> None:
    serving = {bot.user for bot in scope.serving(spec)}
    for bot in scope.config.bots:
        membership = live.membership(bot.user)
        if bot.user in serving:
            if membership == "join":
                continue
            if membership == "ban":
                draft.errors.append(f"{bot.user} ({bot.name}) is banned here; unban it by hand first")
                continue
            plan_new_member(scope, bot, draft, membership)
        elif membership in ("join", "invite"):
            if bot.user != scope.me:  # never kick the provisioning account, whatever bots.yaml says
                draft.change(f"member.{bot.user}", membership, "kicked", Kick(bot.user), section=BOTS)


def plan_profile(scope: Scope, bot: BotSpec, snapshot: Snapshot) -> BotPlan:
    profile = snapshot.profiles.get(bot.user) or {}
    changes, notes = [], []
    for name, key, want in (("display_name", "displayname", bot.display_name), ("avatar", "avatar_url", bot.avatar)):
        if want is not None and profile.get(key) != want:
            changes.append(Change(name, profile.get(key), want, BOTS))
    if changes and not bot.token_env:
        notes.append("the profile differs from bots.yaml, but without token_env roomsync cannot set it")
        return BotPlan(bot.name, bot.user, notes=tuple(notes))
    if changes and scope.token_missing(bot):
        notes.append(_missing_token(bot, "set the profile of"))
    actions = (SetProfile(bot.user, bot.token_env, bot.display_name, bot.avatar),) if changes else ()
    return BotPlan(bot.name, bot.user, tuple(changes), actions, tuple(notes))
