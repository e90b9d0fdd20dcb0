"""Plans and sync results as text for people and JSON for machines."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .actions import BOTS, ROOMS, Change, Plan, RoomPlan

if TYPE_CHECKING:
    from .apply import RoomResult

JSON_FORMAT_VERSION = 1

_HEADINGS = {
    "create": ("+", "will be created"),
    "change": ("~", "will be changed"),
    "upgrade": ("^", "will be upgraded to a new room (room version upgrade)"),
    "retire": ("-", "will be retired"),
    "error": ("!", "cannot be synced"),
}


def value(v: Any) -> str:
    if v is None:
        return "(none)"
    return json.dumps(v, ensure_ascii=False)


def transition(change: Change, create: bool = False, arrow: str = "->", show: Callable[[Any], str] = value) -> str:
    """`before -> after` as text and Markdown both say it: (none) for new, (removed) for gone."""
    if create and change.before is None:
        return show(change.after)
    if change.after is None:
        return f"{show(change.before)} {arrow} (removed)"
    return f"{show(change.before)} {arrow} {show(change.after)}"


def _change_line(change: Change, create: bool, indent: str = "    ", label: str | None = None) -> str:
    return f"{indent}{label or change.label}: {transition(change, create)}"


def _room_name(room: RoomPlan) -> str:
    return f"{room.alias} ({room.room_id})" if room.room_id else room.alias


def bot_changes(plan: Plan) -> int:
    in_rooms = sum(1 for room in plan.rooms for c in room.changes if c.section == BOTS)
    return in_rooms + sum(len(bot.changes) for bot in plan.bots)


def summary(plan: Plan) -> str:
    if not plan.has_changes and not plan.has_errors:
        return f"No changes. The homeserver matches the configuration ({len(plan.rooms)} rooms)."
    text = f"Plan: {plan.count('create')} to create, {plan.count('change')} to change"
    for status, verb in (("upgrade", "upgrade"), ("retire", "retire")):
        if plan.count(status):
            text += f", {plan.count(status)} to {verb}"
    text += "."
    if bots := bot_changes(plan):
        text += f" {bots} bot {'change' if bots == 1 else 'changes'}."
    if plan.well_known:
        text += f" {len(plan.well_known)} .well-known {'difference' if len(plan.well_known) == 1 else 'differences'}."
    errors = plan.count("error")
    text += f" {errors} {'room has' if errors == 1 else 'rooms have'} errors." if errors else ""
    bot_errors = sum(1 for bot in plan.bots if bot.errors)
    text += f" {bot_errors} {'bot has' if bot_errors == 1 else 'bots have'} errors." if bot_errors else ""
    unplanned = len(plan.server_errors)
    text += f" {unplanned} {'server was' if unplanned == 1 else 'servers were'} not planned." if unplanned else ""
    return text


def _header(plan: Plan) -> str:
    header = f"roomsync plan for {plan.server_name}" + (f" at {plan.homeserver}" if plan.homeserver else "")
    header += f", acting as {plan.account}"
    if plan.reader and plan.reader != plan.account:
        header += f" (read by {plan.reader})"
    return header


def plan_text(plan: Plan) -> str:
    lines = [_header(plan), ""]
    for room in plan.rooms:
        changes = [c for c in room.changes if c.section == ROOMS]
        if room.status == "ok" or not (changes or room.errors or room.create):
            continue
        sign, heading = _HEADINGS[room.status]
        lines.append(f"{sign} {_room_name(room)} {heading}")
        lines += [f"    error: {error}" for error in room.errors]
        lines += [_change_line(change, room.create) for change in changes]
        lines.append("")
    lines += _bots_text(plan)
    if plan.well_known:
        lines.append(
            "~ .well-known delegation differs (sync does not change the web server; "
            "deploy the files from `roomsync well-known --out DIR`)"
        )
        lines += [_change_line(change, False) for change in plan.well_known]
        lines.append("")
    lines += [f"! [{server}] cannot be planned: {why}" for server, why in plan.server_errors.items()]
    lines += [""] if plan.server_errors else []
    notes = [f"  {line}" for line in _notes(plan)]
    if notes:
        lines += ["Notes (not changes):", *notes, ""]
    if plan.warnings:
        lines += ["Warnings:", *[f"  {w}" for w in plan.warnings], ""]
    if plan.removals:
        lines.append(f"Removals: {plan.removals} (sync allows {plan.max_removals} without --allow-removals)")
    lines.append(summary(plan))
    return "\n".join(lines) + "\n"


def _notes(plan: Plan) -> list[str]:
    """Each note once, with what it applies to: a bot pending in ten rooms is one line."""
    rooms_by_note: dict[str, list[str]] = {}
    for room in plan.rooms:
        for note in room.notes:
            rooms_by_note.setdefault(note, []).append(room.alias)
    bots_by_note: dict[str, list[str]] = {}
    for bot in plan.bots:
        for note in bot.notes:
            bots_by_note.setdefault(note, []).append(bot.name)
    lines = [f"{note} (in {', '.join(aliases)})" for note, aliases in rooms_by_note.items()]
    return (
        lines
        + [f"{'bot' if len(names) == 1 else 'bots'} {', '.join(names)}: {note}" for note, names in bots_by_note.items()]
        + list(plan.notes)
    )


def _bots_text(plan: Plan) -> list[str]:
    lines = []
    for bot in plan.bots:
        own = [_change_line(c, False, "    ") for c in bot.changes]
        for room in plan.rooms:
            for c in room.changes:
                if c.section == BOTS and c.field.endswith(f".{bot.user}"):
                    what = "member" if c.field.startswith("member.") else "power level"
                    own.append(_change_line(c, False, "    ", f"{room.alias} {what}"))
        if bot.errors:
            lines += [
                f"! bot {bot.name} ({bot.user}) cannot be synced",
                *[f"    error: {e}" for e in bot.errors],
                *own,
                "",
            ]
        elif bot.create:
            lines += [f"+ bot {bot.name} ({bot.user}): its account will be created", *own, ""]
        elif own:
            lines += [f"~ bot {bot.name} ({bot.user})", *own, ""]
    return lines


def _json_changes(plan: Plan) -> list[dict[str, Any]]:
    """Every change of the plan, rooms', .well-known's and bots', one object each."""
    changes: list[dict[str, Any]] = [
        {
            "section": change.section,
            "room_alias": room.alias,
            "room_id": room.room_id,
            "action": "create" if room.create else "change",
            "field": change.field,
            "before": change.before,
            "after": change.after,
            **({"server": change.server} if change.server else {}),
        }
        for room in plan.rooms
        for change in room.changes
    ]
    changes += [
        {
            "section": "well_known",
            "action": "change",
            "field": change.field,
            "before": change.before,
            "after": change.after,
        }
        for change in plan.well_known
    ]
    changes += [
        {
            "section": BOTS,
            "bot": bot.name,
            "user": bot.user,
            "action": "create" if bot.create else "change",
            "field": change.field,
            "before": change.before,
            "after": change.after,
        }
        for bot in plan.bots
        for change in bot.changes
    ]
    return changes


def plan_json(plan: Plan, saved: Mapping[str, Any] | None = None) -> str:
    """The machine-readable plan; see "JSON plan format" in the guide. Bump the version on change.
    `saved`: what `sync --plan` needs to apply this plan and to tell whether it is still current."""
    rooms = [
        {
            "alias": room.alias,
            "room_id": room.room_id,
            "action": room.status,
            "errors": list(room.errors),
            "notes": list(room.notes),
        }
        for room in plan.rooms
    ]
    changes = _json_changes(plan)
    document = {
        "format_version": JSON_FORMAT_VERSION,
        "server_name": plan.server_name,
        "account": plan.account,
        "read_by": plan.reader or plan.account,
        "homeserver": plan.homeserver or None,
        "summary": {
            "create": plan.count("create"),
            "change": plan.count("change"),
            "upgrades": plan.count("upgrade"),
            "retire": plan.count("retire"),
            "unchanged": plan.count("ok"),
            "errors": plan.count("error"),
            "bot_changes": bot_changes(plan),
            "bot_errors": sum(1 for bot in plan.bots if bot.errors),
            "well_known_changes": len(plan.well_known),
            "removals": plan.removals,
            "max_removals": plan.max_removals,
            "has_changes": plan.has_changes,
        },
        "warnings": list(plan.warnings),
        "notes": list(plan.notes),
        "server_errors": dict(plan.server_errors),
        "rooms": rooms,
        "bots": [
            {"name": b.name, "user": b.user, "action": b.status, "errors": list(b.errors), "notes": list(b.notes)}
            for b in plan.bots
        ],
        "changes": changes,
    }
    if saved is not None:
        document["saved"] = dict(saved)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _md(text: Any) -> str:
    """A value inside a Markdown table cell or list item."""
    return value(text).replace("|", "\\|").replace("`", "'")


def plan_markdown(plan: Plan) -> str:
    """A summary fit for a code-review comment: counts, then one collapsible block per room."""
    lines = [f"### roomsync plan for `{plan.server_name}`", "", f"**{summary(plan)}**", ""]
    rows = [(room, [c for c in room.changes if c.section == ROOMS]) for room in plan.rooms]
    rows = [(room, changes) for room, changes in rows if changes or room.errors or room.create]
    if rows:
        lines += ["| room | action | changes |", "|---|---|---|"]
        for room, changes in rows:
            lines.append(f"| `{room.alias}` | {room.status} | {len(changes)} |")
        lines.append("")
    for room, changes in rows:
        lines.append(f"<details><summary><code>{room.alias}</code>: {room.status}</summary>")
        lines.append("")
        lines += [f"- **error**: {error}" for error in room.errors]
        lines += [f"- `{c.label}`: {transition(c, room.create, '→', _md)}" for c in changes]
        lines += ["", "</details>", ""]
    bots = _bots_text(plan)
    if bots:
        lines += ["#### Bots", "", "```", *[line for line in bots if line], "```", ""]
    if plan.well_known:
        lines += ["#### .well-known delegation (not changed by sync)", ""]
        lines += [f"- `{c.field}`: {transition(c, False, '→', _md)}" for c in plan.well_known]
        lines.append("")
    notes = [f"- {line}" for line in _notes(plan)]
    if notes:
        lines += ["<details><summary>Notes (not changes)</summary>", "", *notes, "", "</details>", ""]
    if plan.server_errors:
        lines += ["#### Servers not planned", ""]
        lines += [f"- **{server}**: {why}" for server, why in plan.server_errors.items()] + [""]
    if plan.warnings:
        lines += ["#### Warnings", "", *[f"- {w}" for w in plan.warnings], ""]
    if plan.removals:
        lines += [f"**Removals: {plan.removals}** (sync allows {plan.max_removals} without `--allow-removals`)", ""]
    return "\n".join(lines)


RESULT_WIDTH = 8  # status words are padded to this, and always followed by a space: columns never touch


def _column(word: str) -> str:
    return f"{word} ".ljust(RESULT_WIDTH)


def results_text(results: list[RoomResult]) -> str:
    lines = []
    for r in results:
        name = f"{r.alias} ({r.room_id})" if r.room_id else r.alias
        if r.status == "not started":
            continue  # listed together below
        if r.status in ("failed", "skipped"):
            lines.append(f"{_column(r.status.upper())}{name}: {r.error}")
            if r.done:
                lines.append(f"{'':<{RESULT_WIDTH}}done: {', '.join(r.done)}")
        else:
            lines.append(f"{_column(r.status)}{name}: {', '.join(r.done)}")
        if r.not_attempted:
            lines.append(f"{'':<{RESULT_WIDTH}}not attempted: {', '.join(r.not_attempted)}")
    if waiting_rooms := [r.alias for r in results if r.status == "not started"]:
        lines.append(f"not started (time budget): {', '.join(waiting_rooms)}")
    return "\n".join([*lines, results_summary(results)]) + "\n"


def results_summary(results: list[RoomResult]) -> str:
    """What sync did, in the words and order of the plan's summary (created, changed, upgraded,
    retired; bot changes), so that the two read alike."""

    def count(status: str) -> int:
        return sum(1 for r in results if r.status == status and (r.own or status != "changed"))

    text = f"Sync: {count('created')} created,"
    if count("adopted"):
        text += f" {count('adopted')} adopted (created meanwhile by another run),"
    text += f" {count('changed')} changed"
    for status in ("upgraded", "retired"):
        text += f", {count(status)} {status}" if count(status) else ""
    text += f", {count('failed')} failed"
    text += f", {count('skipped')} not attempted" if count("skipped") else ""
    if count("not started"):
        text += f", {count('not started')} not started (time budget); run sync again to continue"
    text += "."
    applied = sum(r.bot_changes for r in results if r.status not in ("failed", "skipped", "not started"))
    return text + (f" {applied} bot {'change' if applied == 1 else 'changes'}." if applied else "")
