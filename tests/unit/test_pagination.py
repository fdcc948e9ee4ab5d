"""Paginators: the next request, the stop condition and the call minimum."""

from __future__ import annotations

from cryptoflow.apis.base import Offset, PageNumber, ScrollCursor, SinglePage


def test_page_number_uses_the_largest_page_and_stops_at_wanted():
    pager = PageNumber(max_size=250)
    first = pager.first({"vs_currency": "usd"}, wanted=500)
    assert first == {"vs_currency": "usd", "page": 1, "per_page": 250}
    second = pager.next(first, [{}] * 250, None, wanted=500)
    assert second["page"] == 2
    assert pager.next(second, [{}] * 250, None, wanted=500) is None
    assert pager.calls_for(500) == 2
    assert pager.calls_for(501) == 3


def test_page_number_small_wanted_asks_for_a_small_page():
    pager = PageNumber(max_size=250)
    assert pager.first({}, wanted=10)["per_page"] == 10
    assert pager.calls_for(10) == 1


def test_page_number_stops_on_a_short_page():
    pager = PageNumber(max_size=250)
    first = pager.first({}, wanted=1000)
    assert pager.next(first, [{}] * 120, None, wanted=1000) is None


def test_offset_advances_start_and_trims_the_last_limit():
    pager = Offset(max_limit=5000)
    first = pager.first({}, wanted=7000)
    assert first == {"start": 1, "limit": 5000}
    body = {"status": {"total_count": 9000}}
    second = pager.next(first, [{}] * 5000, body, wanted=7000)
    assert second == {"start": 5001, "limit": 2000}
    assert pager.next(second, [{}] * 2000, body, wanted=7000) is None


def test_offset_stops_at_total_count():
    pager = Offset(max_limit=100)
    first = pager.first({})
    assert pager.next(first, [{}] * 100, {"status": {"total_count": 100}}) is None


def test_scroll_cursor_passes_the_last_items_scroll_id():
    pager = ScrollCursor(max_limit=100)
    first = pager.first({"network_slug": "ethereum", "scroll_id": "stale"})
    assert "scroll_id" not in first
    items = [{"scroll_id": f"c{i}"} for i in range(100)]
    second = pager.next(first, items, {})
    assert second["scroll_id"] == "c99"
    assert pager.next(second, items[:5], {}) is None
    assert pager.next(second, [], {}) is None


def test_single_page_never_pages():
    pager = SinglePage()
    assert pager.next(pager.first({"a": 1}), [{}] * 10, None) is None
    assert pager.calls_for(10_000) == 1


def test_a_top_n_is_split_into_equal_pages_so_nothing_beyond_it_is_fetched():
    pager = PageNumber(max_size=250)
    assert [(n, pager.size_for(n), pager.calls_for(n)) for n in (300, 500, 501, 10)] == [
        (300, 150, 2), (500, 250, 2), (501, 167, 3), (10, 10, 1)]
