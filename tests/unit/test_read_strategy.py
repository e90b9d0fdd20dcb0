"""The choice between reading every joined room's state in one pass and the declared rooms' in two."""

from __future__ import annotations

from roomsync.client.strategy import one_pass

LOOPBACK, SLOW_LINK = 0.002, 0.050


def test_one_pass_while_few_joined_rooms_are_not_declared() -> None:
    assert one_pass(joined=1150, declared=1000, round_trip=LOOPBACK)
    assert one_pass(joined=30, declared=30, round_trip=LOOPBACK)
    assert one_pass(joined=0, declared=0, round_trip=LOOPBACK)
    assert one_pass(joined=5, declared=40, round_trip=LOOPBACK)  # rooms still to create


def test_two_passes_when_the_account_has_joined_many_other_rooms() -> None:
    assert not one_pass(joined=1150, declared=100, round_trip=LOOPBACK)
    assert not one_pass(joined=300, declared=150, round_trip=LOOPBACK)
    assert not one_pass(joined=5000, declared=0, round_trip=SLOW_LINK)


def test_a_slow_link_tips_the_balance_by_a_round_trip_worth_of_rooms() -> None:
    assert one_pass(joined=300, declared=150, round_trip=SLOW_LINK)
    assert not one_pass(joined=1150, declared=100, round_trip=SLOW_LINK)
