"""The .well-known documents and their drift, and the Markdown plan: pure functions."""

from __future__ import annotations

import json

from roomsync import render, wellknown
from roomsync.actions import Change, Plan, RoomPlan
from roomsync.wellknown import Fetched

DELEGATION = {"server": "matrix.opendev.org:443", "client": {"base_url": "https://matrix.opendev.org"}}


def test_documents_hold_only_what_is_declared():
    assert wellknown.documents({"server": "m.example:443"}) == {"server": {"m.server": "m.example:443"}}
    docs = wellknown.documents({"client": {"base_url": "https://m", "identity_server": "https://id"}})
    assert docs == {
        "client": {"m.homeserver": {"base_url": "https://m"}, "m.identity_server": {"base_url": "https://id"}}
    }


def test_default_url_is_the_server_name_over_https():
    assert wellknown.url({}, "opendev.org") == "https://opendev.org"
    assert wellknown.url({"url": "http://127.0.0.1:8080/"}, "opendev.org") == "http://127.0.0.1:8080"


def test_matching_files_have_no_drift_and_extra_keys_are_not_compared():
    client = {"m.homeserver": {"base_url": "https://matrix.opendev.org"}, "org.example.extra": {"x": 1}}
    fetched = {
        "server": Fetched(200, json.dumps({"m.server": "matrix.opendev.org:443"})),
        "client": Fetched(200, json.dumps(client)),
    }
    assert wellknown.drift(DELEGATION, fetched) == ()


def test_missing_invalid_wrong_and_unreachable_are_each_drift():
    fetched = {"server": Fetched(404), "client": Fetched(200, "not json")}
    fields = {c.field: c.before for c in wellknown.drift(DELEGATION, fetched)}
    assert fields == {
        ".well-known/matrix/server": "(missing (404))",
        ".well-known/matrix/client": "(not a JSON object)",
    }
    wrong = {"server": Fetched(200, '{"m.server": "old:8448"}'), "client": Fetched(None, error="cannot fetch x")}
    changes = wellknown.drift(DELEGATION, wrong)
    assert Change(".well-known/matrix/server m.server", "old:8448", "matrix.opendev.org:443", "well_known") in changes
    assert any(c.before == "(cannot fetch x)" for c in changes)


def test_markdown_plan_summarises_rooms_and_well_known():
    plan = Plan(
        "opendev.org",
        "@roomsync:opendev.org",
        rooms=(
            RoomPlan("#zuul:opendev.org", "!z", changes=(Change("topic", "old | pipe", "new"),), actions=("x",)),
            RoomPlan("#ok:opendev.org", "!o"),
        ),
        well_known=(Change(".well-known/matrix/server m.server", "a", "b", "well_known"),),
    )
    text = render.plan_markdown(plan)
    assert "| `#zuul:opendev.org` | change | 1 |" in text
    assert "#ok:opendev.org" not in text, "unchanged rooms are not listed"
    assert '`topic`: "old \\| pipe" → "new"' in text, "pipes are escaped inside the comment"
    assert "Plan: 0 to create, 1 to change. 1 .well-known difference." in text
