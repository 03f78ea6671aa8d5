"""Properties of the pagination arithmetic (SPEC §2 lists): pages partition a list, in order,
without gaps or overlaps, and the bounds the HTTP layer accepts are the bounds PageRequest accepts."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auth_service.application.pagination import MAX_PAGE_SIZE, Page, PageRequest

sizes = st.integers(min_value=1, max_value=MAX_PAGE_SIZE)
pages = st.integers(min_value=1, max_value=1_000_000)  # the bound of the `page` query parameter


def _page_of(items: list[int], request: PageRequest) -> Page[int]:
    """What the SQL views do: LIMIT page_size OFFSET offset, and the total of the whole list."""
    return Page(items[request.offset:request.offset + request.page_size], request.page, request.page_size,
                len(items))


@given(pages, sizes)
def test_the_offset_skips_exactly_the_earlier_pages(page: int, page_size: int) -> None:
    request = PageRequest(page, page_size)

    assert request.offset == (page - 1) * page_size
    assert request.offset >= 0


@given(st.lists(st.integers(), max_size=500), sizes)
def test_walking_the_pages_returns_every_item_once_in_order(items: list[int], page_size: int) -> None:
    last = max(1, math.ceil(len(items) / page_size))

    walked = [_page_of(items, PageRequest(page, page_size)) for page in range(1, last + 2)]

    assert [item for page in walked for item in page.items] == items
    assert all(len(page.items) == page_size for page in walked[:last - 1])
    assert 0 < len(walked[last - 1].items) <= page_size or not items
    assert walked[last].items == []  # the page after the last is empty, not an error
    assert {page.total for page in walked} == {len(items)}


@given(st.integers(max_value=0), sizes)
def test_a_page_before_the_first_is_refused(page: int, page_size: int) -> None:
    with pytest.raises(ValueError):
        PageRequest(page, page_size)


@given(pages, st.integers(max_value=0) | st.integers(min_value=MAX_PAGE_SIZE + 1))
def test_a_page_size_outside_one_to_a_hundred_is_refused(page: int, page_size: int) -> None:
    with pytest.raises(ValueError):
        PageRequest(page, page_size)
