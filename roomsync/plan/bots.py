"""The bots of bots.yaml: their accounts, their memberships in the rooms they serve, and their profiles.

With a Synapse server admin's token the snapshot holds every local bot's account: plan checks
that it exists (sync creates it with create_account), is not deactivated or a server admin
(errors roomsync never changes), is of user_type bot, and has the declared profile and rate
limit, all set through the admin API. Without one, only the profile is compared (and set
with the bot's own token).
"""

from __future__ import annotations

from ..actions import (
    BOTS,
    Action,
    AdminJoin,
    BotPlan,
    Change,
    CreateAccount,
    Invite,
    JoinAs,
    Kick,
    SetAccount,
    SetProfile,
    SetRateLimit,
)
from ..live import BotAccount, LiveRoom, Snapshot
from ..model import BotSpec, RoomSpec
from . import avatars as avatar_plan
from .scope import Draft, Scope

BOT_USER_TYPE = "bot"


def _missing_token(bot: BotSpec, what: str) -> str:
    return (
        f"{bot.token_env} is not set here; sync needs it to {what} {bot.user} ({bot.name}); "
        f"`roomsync bot-token {bot.name} --out FILE` mints one with a server admin's token"
    )


def plan_new_member(scope: Scope, bot: BotSpec, draft: Draft, membership: str | None = None) -> None:
    """Get a bot that is not in the room in: joined with its token, otherwise invited. A bot whose
    account this sync creates has no token yet: it is joined through the admin API instead."""
    if account_errors(scope, bot):
        return  # said once, in the bot's own plan; nothing is done for it
    field_name = f"member.{bot.user}"
    invite = (Invite(bot.user),) if membership != "invite" else ()
    if bot.token_env and creates_account(scope, bot):
        draft.change(field_name, membership, "join", *invite, AdminJoin(bot.user), section=BOTS)
    elif bot.token_env:
        draft.change(field_name, membership, "join", *invite, JoinAs(bot.user, bot.token_env), section=BOTS)
        if scope.token_missing(bot):
            draft.notes.append(_missing_token(bot, "join"))
    elif invite:
        draft.change(field_name, membership, "invite", *invite, section=BOTS)
        draft.notes.append(f"{bot.user} ({bot.name}) will be invited and joins by itself")
    else:
        draft.notes.append(
            f"{bot.user} ({bot.name}) is invited and has no token_env: pending until it accepts by itself"
        )


def plan_memberships(scope: Scope, spec: RoomSpec, live: LiveRoom, draft: Draft) -> None:
    serving = {bot.user for bot in scope.serving(spec)}
    for bot in scope.config.bots:
        if account_errors(scope, bot):
            continue
        membership = live.membership(bot.user)
        if bot.user in serving:
            if membership == "join":
                continue
            if membership == "ban":
                draft.errors.append(f"{bot.user} ({bot.name}) is banned here; unban it by hand first")
                continue
            plan_new_member(scope, bot, draft, membership)
        # never kick the provisioning account, whatever bots.yaml says
        elif membership in ("join", "invite") and bot.user != scope.me:
            draft.change(f"member.{bot.user}", membership, "kicked", Kick(bot.user), section=BOTS)


def plan_profile(scope: Scope, bot: BotSpec, snapshot: Snapshot) -> BotPlan:
    profile = snapshot.profiles.get(bot.user) or {}
    changes, notes = [], []
    if bot.display_name is not None and profile.get("displayname") != bot.display_name:
        changes.append(Change("display_name", profile.get("displayname"), bot.display_name, BOTS))
    differs, avatar, shown, uploads = avatar_plan.bot_avatar(scope, bot, profile.get("avatar_url"))
    if differs:
        changes.append(Change("avatar", profile.get("avatar_url"), shown, BOTS))
    if changes and not bot.token_env:
        notes.append("the profile differs from bots.yaml, but without token_env roomsync cannot set it")
        return BotPlan(bot.name, bot.user, notes=tuple(notes))
    if changes and scope.token_missing(bot):
        notes.append(_missing_token(bot, "set the profile of"))
    actions: list[Action] = []
    if changes and bot.token_env:
        actions = [*uploads, SetProfile(bot.user, bot.token_env, bot.display_name, avatar)]
    return BotPlan(bot.name, bot.user, tuple(changes), tuple(actions), tuple(notes))


# --- accounts (a server admin's token) ------------------------------------------------------------


def is_local(scope: Scope, bot: BotSpec) -> bool:
    return bot.user.endswith(f":{scope.config.server_name}")


def checked_account(scope: Scope, bot: BotSpec) -> tuple[bool, BotAccount | None]:
    """(whether the account was read, the account or None when it does not exist)."""
    accounts = scope.snapshot.accounts
    if accounts is None or not is_local(scope, bot) or bot.user not in accounts:
        return False, None
    return True, accounts[bot.user]


def creates_account(scope: Scope, bot: BotSpec) -> bool:
    checked, account = checked_account(scope, bot)
    return checked and account is None and bot.create_account


def account_errors(scope: Scope, bot: BotSpec) -> tuple[str, ...]:
    """Why this bot's account cannot serve as a bot. roomsync never changes any of these. Found
    once a plan: every room asks it of every bot."""
    found = scope.bot_account_errors.get(bot.user)
    if found is None:
        found = scope.bot_account_errors[bot.user] = tuple(_account_errors(scope, bot))
    return found


def _account_errors(scope: Scope, bot: BotSpec) -> list[str]:
    checked, account = checked_account(scope, bot)
    user = bot.user
    if not checked:
        return _unchecked_account_errors(scope, bot)
    if account is None:
        if bot.create_account:
            return []
        return [
            f"the account {user} does not exist; create it, or set create_account: true in bots.yaml "
            "to have sync create it"
        ]
    errors = []
    if account.deactivated:
        errors.append(
            f"the account {user} is deactivated; roomsync never reactivates an account: reactivate it "
            "by hand, or take the bot out of bots.yaml"
        )
    if account.admin:
        errors.append(
            f"the account {user} is a server admin: a bot must not hold server-wide power (anyone with "
            "its token could change every room and account on the homeserver); roomsync never changes "
            "this: take the admin right away by hand"
        )
    for flag, what in (
        ("locked", "is locked: it cannot use its token"),
        ("suspended", "is suspended: it cannot send messages"),
        ("shadow_banned", "is shadow-banned: whatever it sends is silently dropped"),
    ):
        if getattr(account, flag):
            errors.append(f"the account {user} {what}; roomsync never changes this: lift it by hand")
    return errors


NOT_EXPOSED = "does not expose"  # in admin_absent: the homeserver has no admin API for anyone


def _unchecked_account_errors(scope: Scope, bot: BotSpec) -> list[str]:
    """A local bot whose account the admin API did not show: its profile said whether it exists.
    roomsync never invites an account that does not exist."""
    snapshot, user = scope.snapshot, bot.user
    if not is_local(scope, bot) or snapshot.existing.get(user) is not False:
        return []
    why = snapshot.admin_absent or "Synapse's admin API did not answer"
    if bot.create_account and NOT_EXPOSED in why:
        return [
            f"the account {user} does not exist, and create_account needs Synapse's admin API: {why}; "
            "create the account by hand and drop create_account, or let roomsync reach the admin API"
        ]
    if bot.create_account and snapshot.reader not in ("", scope.me):
        return []  # an observer cannot tell whether the account's token can create it: the note says so
    if bot.create_account:
        return [f"the account {user} does not exist, and create_account needs Synapse's admin API: {why}"]
    return [
        f"the account {user} does not exist; create it, or set create_account: true in bots.yaml "
        "to have sync create it (with a server admin's token)"
    ]


def plan_bots(scope: Scope, whole: bool) -> tuple[tuple[BotPlan, ...], tuple[str, ...]]:
    """Every bot's own plan (account and profile) and the notes about the run.

    `whole`: the whole config is planned. A --room run plans only what the selected rooms need
    of the bots serving them: their accounts created, or their errors; drift waits for a whole run.
    """
    plans = []
    for bot in scope.config.bots:
        if whole:
            plans.append(plan_bot(scope, bot))
        elif (
            scope.selected is not None
            and any(bot.serves(a) for a in scope.selected)
            and ((planned := plan_bot(scope, bot)).errors or planned.create)
        ):
            plans.append(planned)
    notes: tuple[str, ...] = ()
    if scope.snapshot.accounts is None and any(is_local(scope, bot) for bot in scope.config.bots):
        reader = scope.snapshot.reader or scope.me
        why = scope.snapshot.admin_absent or f"{reader}'s token is not a Synapse server admin's"
        notes = (f"bot accounts were not checked through Synapse's admin API (user type, rate limit): {why}",)
    return tuple(plans), notes


def plan_bot(scope: Scope, bot: BotSpec) -> BotPlan:
    checked, account = checked_account(scope, bot)
    if not checked and (errors := account_errors(scope, bot)):
        return BotPlan(bot.name, bot.user, errors=tuple(errors))
    if not checked:
        return plan_profile(scope, bot, scope.snapshot)
    if errors := account_errors(scope, bot):
        return BotPlan(bot.name, bot.user, errors=tuple(errors))
    if account is None:
        changes = [Change("account", None, "created", BOTS), Change("user_type", None, BOT_USER_TYPE, BOTS)]
        changes += [Change("display_name", None, bot.display_name, BOTS)] if bot.display_name is not None else []
        differs, avatar, shown, uploads = avatar_plan.bot_avatar(scope, bot, None)
        changes += [Change("avatar", None, shown, BOTS)] if differs else []
        actions: list[Action] = [*uploads, CreateAccount(bot.user, bot.display_name, avatar)]
        if bot.rate_limit == "exempt":  # a new account has no override: "default" is what it has
            changes.append(Change("rate_limit", None, "exempt", BOTS))
            actions.append(SetRateLimit(bot.user, exempt=True))
        return BotPlan(bot.name, bot.user, tuple(changes), tuple(actions), create=True)

    changes, fields = [], {}
    if account.user_type != BOT_USER_TYPE:
        changes.append(Change("user_type", account.user_type, BOT_USER_TYPE, BOTS))
        fields["user_type"] = BOT_USER_TYPE
    if bot.display_name is not None and account.displayname != bot.display_name:
        changes.append(Change("display_name", account.displayname, bot.display_name, BOTS))
        fields["display_name"] = bot.display_name
    differs, avatar, shown, uploads = avatar_plan.bot_avatar(scope, bot, account.avatar_url)
    if differs:
        changes.append(Change("avatar", account.avatar_url, shown, BOTS))
        fields["avatar"] = avatar
    actions = [*uploads, SetAccount(bot.user, **fields)] if fields else []
    if bot.rate_limit and account.rate_limit is not None and account.rate_limit != bot.rate_limit:
        changes.append(Change("rate_limit", account.rate_limit, bot.rate_limit, BOTS))
        actions.append(SetRateLimit(bot.user, exempt=bot.rate_limit == "exempt"))
    return BotPlan(bot.name, bot.user, tuple(changes), tuple(actions))
