"""What `POST /token` accepts and how it names rooms the caller did not name."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from context_bot.endpoint.token_request import (
    ApiError,
    generated_room_name,
    parse_token_request,
    reserved_identities,
    room_for_session,
)

REPOS = ("context-bot",)
WHO = {"participant_identity": "ada", "participant_name": "Ada Lovelace"}


def test_a_named_room_is_kept_and_the_repo_defaults_to_the_only_one() -> None:
    asked = parse_token_request({**WHO, "room_name": "onboarding-1"}, REPOS)
    assert (asked.room_name, asked.room_named_by, asked.repo) == (
        "onboarding-1",
        "request",
        "context-bot",
    )
    assert asked.participant_metadata == ""


def test_without_a_room_name_the_session_names_the_room() -> None:
    asked = parse_token_request({**WHO, "session_id": "3f2a-77"}, REPOS)
    assert asked.room_name == "session-3f2a-77" == room_for_session("3f2a-77")
    assert asked.room_named_by == "session"
    again = parse_token_request({**WHO, "session_id": "3f2a-77"}, REPOS)
    assert again.room_name == asked.room_name


def test_a_named_room_wins_over_the_session_which_is_still_kept() -> None:
    asked = parse_token_request({**WHO, "room_name": "mine", "session_id": "s1"}, REPOS)
    assert (asked.room_name, asked.session_id) == ("mine", "s1")


def test_with_neither_a_unique_dated_name_is_generated() -> None:
    names = {parse_token_request(dict(WHO), REPOS).room_name for _ in range(200)}
    assert len(names) == 200
    today = datetime.now(UTC).strftime("%Y%m%d")
    for name in names:
        assert re.fullmatch(rf"onboarding-{today}-[0-9a-f]{{12}}", name), name
    fixed = generated_room_name(datetime(2026, 1, 2, tzinfo=UTC))
    assert fixed.startswith("onboarding-20260102-")


def test_the_longest_session_id_still_makes_a_name_livekit_accepts() -> None:
    asked = parse_token_request({**WHO, "session_id": "s" * 120}, REPOS)
    assert len(asked.room_name) == 128
    with pytest.raises(ApiError) as caught:
        parse_token_request({**WHO, "session_id": "s" * 121}, REPOS)
    assert (caught.value.status, caught.value.code) == (400, "invalid_field")


@pytest.mark.parametrize(
    "name",
    ["Ada", "Zoë 🎉", "👩\u200d💻 dev", "李雷", "a" * 128],
)
def test_display_names_may_hold_any_text_but_control_characters(name: str) -> None:
    assert parse_token_request({**WHO, "participant_name": name}, REPOS).participant_name == name


@pytest.mark.parametrize("name", ["tab\there", "nul\x00", "del\x7f", "c1\x85", "a" * 129, "\ud800"])
def test_display_names_with_control_characters_or_too_long_are_refused(name: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_token_request({**WHO, "participant_name": name}, REPOS)
    assert caught.value.code == "invalid_field"


def test_metadata_is_passed_through_up_to_its_limit() -> None:
    metadata = '{"role": "reviewer"}'
    assert (
        parse_token_request({**WHO, "participant_metadata": metadata}, REPOS).participant_metadata
        == metadata
    )
    with pytest.raises(ApiError, match="at most 1024"):
        parse_token_request({**WHO, "participant_metadata": "m" * 1025}, REPOS)


def test_an_unknown_field_is_refused_rather_than_dropped() -> None:
    with pytest.raises(ApiError) as caught:
        parse_token_request({**WHO, "participant_attributes": {}}, REPOS)
    assert caught.value.code == "unknown_field"
    assert "participant_attributes" in caught.value.message


def test_a_repo_not_served_is_refused_naming_the_ones_that_are() -> None:
    with pytest.raises(ApiError) as caught:
        parse_token_request({**WHO, "repo": "other"}, ("a", "b"))
    assert caught.value.code == "unknown_repo"
    assert "a, b" in caught.value.message
    assert parse_token_request({**WHO, "repo": "b"}, ("a", "b")).repo == "b"


def test_the_bots_identity_is_refused_exactly_and_look_alikes_are_not() -> None:
    reserved = reserved_identities("context-bot")
    with pytest.raises(ApiError) as refused:
        parse_token_request({**WHO, "participant_identity": "context-bot"}, REPOS, reserved)
    assert (refused.value.status, refused.value.code) == (403, "reserved_identity")
    # LiveKit compares identities exactly: these are other participants, who cannot
    # displace the bot and whom no client trusts as the bot.
    for other in ("Context-Bot", "context-bot-2", "context-bot."):
        asked = parse_token_request({**WHO, "participant_identity": other}, REPOS, reserved)
        assert asked.participant_identity == other
