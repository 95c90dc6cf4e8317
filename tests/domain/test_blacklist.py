"""The FR-005 blacklist: a small ``kind,id`` CSV of customers and stores."""

from __future__ import annotations

import pytest

from transforms.domain.blacklist import (
    EMPTY_BLACKLIST,
    NO_HIT,
    Blacklist,
    BlacklistHit,
    parse_blacklist_lines,
)


def test_parses_customers_and_stores_skipping_header_comments_and_blank_lines() -> None:
    lines = [
        "kind,id\n",
        "# fraud team, 2026-10-01\n",
        "\n",
        "customer,cust-13\n",
        "   \n",
        "store, store-666 \n",
        "  # indented comment\n",
        "customer,cust-42",
    ]

    blacklist = parse_blacklist_lines(lines)

    assert blacklist == Blacklist(frozenset({"cust-13", "cust-42"}), frozenset({"store-666"}))
    assert len(blacklist) == 3


def test_header_with_spaces_is_skipped() -> None:
    assert parse_blacklist_lines(["kind, id", "store,s1"]) == Blacklist(stores=frozenset({"s1"}))


def test_duplicate_entries_count_once() -> None:
    assert len(parse_blacklist_lines(["customer,c1", "customer,c1", "customer, c1"])) == 1


def test_same_id_can_be_a_customer_and_a_store() -> None:
    blacklist = parse_blacklist_lines(["customer,x", "store,x"])

    assert blacklist.check("x", "x") == BlacklistHit(customer=True, store=True)


def test_empty_file_is_an_empty_blacklist() -> None:
    assert parse_blacklist_lines([]) == EMPTY_BLACKLIST
    assert parse_blacklist_lines(["kind,id"]) == EMPTY_BLACKLIST
    assert len(EMPTY_BLACKLIST) == 0


@pytest.mark.parametrize(
    ("bad_line", "number"),
    [
        ("merchant,m1", 3),
        ("customer,", 3),
        ("store", 3),
        ("cust-99", 3),
        (",cust-99", 3),
    ],
)
def test_bad_line_raises_value_error_with_its_line_number(bad_line: str, number: int) -> None:
    lines = ["kind,id", "customer,c1", bad_line, "store,s1"]

    with pytest.raises(ValueError, match=rf"line {number}\b"):
        parse_blacklist_lines(lines)


def test_line_numbers_count_comments_and_blank_lines() -> None:
    with pytest.raises(ValueError, match=r"line 5\b"):
        parse_blacklist_lines(["kind,id", "# note", "", "customer,c1", "oops"])


def test_check_reports_which_side_is_blacklisted() -> None:
    blacklist = Blacklist(frozenset({"c-bad"}), frozenset({"s-bad"}))

    assert blacklist.check("c-bad", "s-ok") == BlacklistHit(customer=True, store=False)
    assert blacklist.check("c-ok", "s-bad") == BlacklistHit(customer=False, store=True)
    assert blacklist.check("c-ok", "s-ok") == NO_HIT


def test_customer_and_store_ids_do_not_cross() -> None:
    blacklist = Blacklist(customers=frozenset({"id-1"}))

    assert blacklist.check("other", "id-1") == NO_HIT


def test_hit_any_is_true_when_either_side_hits() -> None:
    assert BlacklistHit(customer=True).any
    assert BlacklistHit(store=True).any
    assert not NO_HIT.any
