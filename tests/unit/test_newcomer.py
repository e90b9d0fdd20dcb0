"""Mistakes of a newcomer's first hour: each is said plainly, naming the file or the command that helps."""

from __future__ import annotations

from pathlib import Path

import pytest

from roomsync.cli.common import ENV_TOKEN, ENV_TOKEN_FILE, access_token
from roomsync.errors import RoomsyncError
from roomsync.model import BotSpec
from roomsync.plan import make_plan
from tests.unit.planning import config, snapshot, spec


@pytest.mark.parametrize("content", ["", "\n", "   \n"])
def test_an_empty_token_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(content)
    monkeypatch.delenv(ENV_TOKEN, raising=False)
    monkeypatch.setenv(ENV_TOKEN_FILE, str(token_file))
    with pytest.raises(RoomsyncError, match=f"{ENV_TOKEN_FILE} names {token_file}, which is empty"):
        access_token()


def test_a_blank_token_is_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_TOKEN_FILE, raising=False)
    monkeypatch.setenv(ENV_TOKEN, "  ")
    with pytest.raises(RoomsyncError, match="no access token"):
        access_token()


def test_a_missing_bot_token_names_roomsync_bot_token() -> None:
    import dataclasses

    bot = BotSpec("gerritbot", "@gerrit:opendev.org", ("dev",), token_env="GERRITBOT_TOKEN")
    cfg = dataclasses.replace(config(spec("dev")), bots=(bot,))
    plan = make_plan(cfg, snapshot(), tokens=frozenset())
    notes = [n for room in plan.rooms for n in room.notes]
    assert any("GERRITBOT_TOKEN is not set" in n and "roomsync bot-token gerritbot --out FILE" in n for n in notes)
