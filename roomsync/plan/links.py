"""State that names other rooms: space links (m.space.child / m.space.parent) and the
`allow` list of restricted join rules. Their room ids may only exist once creation is done,
so their actions carry RoomRefs that sync resolves in its second phase."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import fields
from ..actions import Action, PutState, RoomRef
from ..ids import localpart_of
from ..live import LiveRoom
from ..model import RoomSpec
from .scope import SPACE_CHILD, SPACE_PARENT, Draft, Scope


def _allow_list(scope: Scope, spec: RoomSpec) -> list[RoomRef]:
    return [RoomRef(scope.config.alias(link.space)) for link in spec.spaces]


def _join_rules_content(rule: str, allow: list[RoomRef]) -> dict[str, Any]:
    if rule != "restricted":
        return {"join_rule": rule}
    return {"join_rule": rule, "allow": [{"type": "m.room_membership", "room_id": ref} for ref in allow]}


def initial_join_rules(scope: Scope, spec: RoomSpec, draft: Draft, follow_ups: list[Action]) -> dict[str, Any]:
    """The join rules event for createRoom; a restricted room gets its allow list right after.

    A restricted room names its spaces by id, known only once they exist: it starts
    invite-only (never briefly public) and becomes restricted in the second phase.
    """
    rule = spec.get("join_rule")
    draft.change("join_rule", None, rule)
    if rule == "restricted":
        allow = _allow_list(scope, spec)
        _check_targets(scope, [ref.alias for ref in allow], draft)
        draft.change("join_rule.allow", None, [ref.alias for ref in allow])
        follow_ups.append(PutState("m.room.join_rules", "", _join_rules_content("restricted", allow)))
    return {
        "type": "m.room.join_rules",
        "state_key": "",
        "content": {"join_rule": "invite" if rule == "restricted" else rule},
    }


def plan_join_rule(scope: Scope, spec: RoomSpec, live: LiveRoom, draft: Draft) -> None:
    if not spec.manages("join_rule"):
        return
    want = spec.get("join_rule")
    content = live.content("m.room.join_rules") or {}
    have = fields.read("join_rule", live)
    allow = _allow_list(scope, spec) if want == "restricted" else []
    have_allow = (
        sorted(
            scope.label(entry["room_id"])
            for entry in content.get("allow") or []
            if isinstance(entry, Mapping) and isinstance(entry.get("room_id"), str)
        )
        if have == "restricted"
        else []
    )
    want_allow = sorted(ref.alias for ref in allow)
    new = PutState("m.room.join_rules", "", _join_rules_content(want, allow))
    if want != have:
        draft.change("join_rule", have, want, new)
        if want_allow != have_allow:
            draft.change("join_rule.allow", have_allow or None, want_allow or None)
    elif want_allow != have_allow:
        draft.change("join_rule.allow", have_allow or None, want_allow or None, new)
    else:
        return
    _check_targets(scope, want_allow, draft)


def plan_space_links(scope: Scope, spec: RoomSpec, live: LiveRoom | None, draft: Draft) -> None:
    """m.space.child in a space for each declared child; m.space.parent in each child.

    Links to rooms that are not declared are never touched; links between declared rooms
    follow the config, so a room taken out of a space in git loses both links. A room outside
    a --room selection plans only its links with selected rooms.
    """
    config = scope.config
    via = [config.server_name]
    mine = scope.is_selected(spec.alias)

    def relevant(other: str) -> bool:
        return mine or scope.is_selected(localpart_of(other))

    if spec.is_space:
        want = {
            config.alias(child.alias): _child_content(via, link.order, link.suggested)
            for child, link in scope.children.get(spec.alias, ())
        }
        have, stale = _links(scope, live.children() if live else {})
        _diff_links(
            scope,
            draft,
            "space.child",
            SPACE_CHILD,
            {k: v for k, v in want.items() if relevant(k)},
            {k: v for k, v in have.items() if relevant(k)},
            {k: v for k, v in stale.items() if relevant(k)},
        )

    want_parents = {
        config.alias(link.space): _parent_content(via, index == 0) for index, link in enumerate(spec.spaces)
    }
    have, stale = _links(scope, live.parents() if live else {})
    _diff_links(
        scope,
        draft,
        "space.parent",
        SPACE_PARENT,
        {k: v for k, v in want_parents.items() if relevant(k)},
        {k: v for k, v in have.items() if relevant(k)},
        {k: v for k, v in stale.items() if relevant(k)},
    )


def _links(
    scope: Scope, live_links: dict[str, Mapping[str, Any]]
) -> tuple[dict[str, Mapping[str, Any]], dict[str, str]]:
    """Live links to declared rooms, by alias; and those that name a declared room's id from
    before its upgrade (alias -> old id). A room we cannot read is still a declared room: the
    link exists. Links to undeclared rooms are not ours."""
    have = {scope.aliases_by_id[k]: v for k, v in live_links.items() if k in scope.aliases_by_id}
    stale = {scope.predecessors[k]: k for k in live_links if k in scope.predecessors and k not in scope.aliases_by_id}
    return have, stale


def _child_content(via: list[str], order: str | None, suggested: bool) -> dict[str, Any]:
    content: dict[str, Any] = {"via": via}
    if order is not None:
        content["order"] = order
    if suggested:
        content["suggested"] = True
    return content


def _parent_content(via: list[str], canonical: bool) -> dict[str, Any]:
    return {"via": via, "canonical": True} if canonical else {"via": via}


def _diff_links(
    scope: Scope,
    draft: Draft,
    label: str,
    event_type: str,
    want: dict[str, dict[str, Any]],
    have: dict[str, Mapping[str, Any]],
    stale: dict[str, str],
) -> None:
    for alias, content in want.items():
        if alias not in have and alias in stale:  # repointed from the room before its upgrade
            draft.change(
                label,
                scope.label(stale[alias]),
                alias,
                PutState(event_type, stale[alias], {}),
                PutState(event_type, RoomRef(alias), content),
            )
        elif alias not in have and _outside_run(scope, alias):
            draft.notes.append(f"the link to {alias} waits until that room exists (it is not part of this run)")
        elif alias not in have:
            draft.change(label, None, alias, PutState(event_type, RoomRef(alias), content))
        elif _normal(have[alias]) != _normal(content):
            before = {k: v for k, v in have[alias].items() if k != "via"}
            after = {k: v for k, v in content.items() if k != "via"}
            draft.change(
                f"{label}.{alias}", before or None, after or None, PutState(event_type, RoomRef(alias), content)
            )
    for alias in have:
        if alias not in want:
            draft.change(label, alias, None, PutState(event_type, scope.room_ids[alias], {}))
    for alias, old_id in stale.items():
        if alias not in want or alias in have:
            draft.change(label, scope.label(old_id), None, PutState(event_type, old_id, {}))


def _outside_run(scope: Scope, alias: str) -> bool:
    """A room that does not exist and that this (--room limited) run will not create."""
    return alias not in scope.room_ids and not scope.is_selected(localpart_of(alias))


def _check_targets(scope: Scope, aliases: list[str], draft: Draft) -> None:
    """A restricted room cannot name a space that does not exist and that this run will not create."""
    for alias in aliases:
        if _outside_run(scope, alias):
            draft.errors.append(
                f"join_rule restricted names {alias}, which does not exist yet and is not part "
                f"of this run; add --room {alias} (or run without --room)"
            )


def _normal(content: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        list(content.get("via") or []),
        content.get("order"),
        bool(content.get("suggested")),
        bool(content.get("canonical")),
    )
