"""Plans and sync results as text for people and JSON for machines."""

from __future__ import annotations

import json
from typing import Any

from .apply import RoomResult
from .plan import Change, Plan, RoomPlan

JSON_FORMAT_VERSION = 1

_HEADINGS = {
    "create": ("+", "will be created"),
    "change": ("~", "will be changed"),
    "error": ("!", "cannot be synced"),
}


def value(v: Any) -> str:
    if v is None:
        return "(none)"
    return json.dumps(v, ensure_ascii=False)


def _change_line(change: Change, create: bool) -> str:
    if create:
        return f"    {change.field}: {value(change.after)}"
    if change.after is None:
        return f"    {change.field}: {value(change.before)} -> (removed)"
    return f"    {change.field}: {value(change.before)} -> {value(change.after)}"


def _room_name(room: RoomPlan) -> str:
    return f"{room.alias} ({room.room_id})" if room.room_id else room.alias


def summary(plan: Plan) -> str:
    if not plan.has_changes and not plan.has_errors:
        return f"No changes. The homeserver matches the configuration ({len(plan.rooms)} rooms)."
    text = f"Plan: {plan.count('create')} to create, {plan.count('change')} to change."
    errors = plan.count("error")
    return text + (f" {errors} {'room has' if errors == 1 else 'rooms have'} errors." if errors else "")


def plan_text(plan: Plan) -> str:
    lines = [f"roomsync plan for {plan.server_name}, acting as {plan.account}", ""]
    for room in plan.rooms:
        if room.status == "ok":
            continue
        sign, heading = _HEADINGS[room.status]
        lines.append(f"{sign} {_room_name(room)} {heading}")
        lines += [f"    error: {error}" for error in room.errors]
        lines += [_change_line(change, room.create) for change in room.changes]
        lines.append("")
    lines.append(summary(plan))
    return "\n".join(lines) + "\n"


def plan_json(plan: Plan) -> str:
    """The machine-readable plan; see "JSON plan format" in the README. Bump the version on change."""
    rooms = [
        {
            "alias": room.alias,
            "room_id": room.room_id,
            "action": room.status,
            "errors": list(room.errors),
        }
        for room in plan.rooms
    ]
    changes = [
        {
            "room_alias": room.alias,
            "room_id": room.room_id,
            "action": "create" if room.create else "change",
            "field": change.field,
            "before": change.before,
            "after": change.after,
        }
        for room in plan.rooms
        for change in room.changes
    ]
    document = {
        "format_version": JSON_FORMAT_VERSION,
        "server_name": plan.server_name,
        "account": plan.account,
        "summary": {
            "create": plan.count("create"),
            "change": plan.count("change"),
            "unchanged": plan.count("ok"),
            "errors": plan.count("error"),
            "has_changes": plan.has_changes,
        },
        "rooms": rooms,
        "changes": changes,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def results_text(results: list[RoomResult]) -> str:
    lines = []
    for r in results:
        name = f"{r.alias} ({r.room_id})" if r.room_id else r.alias
        if r.status == "failed":
            lines.append(f"FAILED  {name}: {r.error}")
            if r.done:
                lines.append(f"        done: {', '.join(r.done)}")
            if r.not_attempted:
                lines.append(f"        not attempted: {', '.join(r.not_attempted)}")
        else:
            lines.append(f"{r.status:<8}{name}: {', '.join(r.done)}")
    counts = {s: sum(1 for r in results if r.status == s) for s in ("created", "changed", "failed")}
    lines.append(f"Sync: {counts['created']} created, {counts['changed']} changed, {counts['failed']} failed.")
    return "\n".join(lines) + "\n"
