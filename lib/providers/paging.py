"""Pagination strategies: given a page, what to request next (pure, no I/O).

- ``cursor``: send the page's ``next_cursor_field`` as ``cursor_param``; stop when
  ``has_more`` is false (even if a cursor is still returned) or, without ``has_more``, when
  there is no cursor.
- ``page_number``: send ``page_param`` + 1; stop when ``has_more`` is false or, without it,
  after an empty page.
- ``offset``: send ``offset_param`` = 0, then the number of items (``records.path``) read so
  far; stop when ``has_more`` is false or, without it, after a page shorter than
  ``page_size`` (or an empty one).
- ``next_link``: request the URL at ``next_link_field`` (same origin only); stop without one.
- ``none``: one page.

Loop guards raise ``PageProblem``: a cursor or link seen before, or more than ``max_pages``.
An empty page with ``has_more: true`` continues (``offset``: a loop, the offset would not move).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from lib.config.source import PaginationConfig
from lib.providers.pages import PageProblem, dig


@dataclass(frozen=True)
class PageRequest:
    """The n-th request of a window (``number`` counts from 1)."""

    number: int
    url: str
    params: httpx.QueryParams | None


@dataclass
class Pager:
    """Walks the pages of one window."""

    config: PaginationConfig
    first_url: str
    first_params: httpx.QueryParams
    items_path: str = "data"
    """Where a page's items are (``records.path``): ``offset`` counts them."""
    seen: set[str] = field(default_factory=set)
    offset: int = 0

    def first(self) -> PageRequest:
        """The first request."""
        params = self.first_params
        if self.config.type == "page_number":
            params = params.set(self.config.page_param, str(self.config.first_page))
        if self.config.type == "offset":
            params = params.set(self.config.offset_param, "0")
        size_param, size = self.config.page_size_param, self.config.page_size
        if self.config.type in ("page_number", "offset") and size_param and size:
            params = params.set(size_param, str(size))
        return PageRequest(1, self.first_url, params)

    def next(
        self, payload: Any, current: PageRequest, rows: int, url: httpx.URL
    ) -> PageRequest | None:
        """The request after ``current``, or None when the window is complete.

        Args:
            payload: the parsed page.
            current: the request that produced it.
            rows: how many rows the page held.
            url: the URL the page was fetched from (resolves relative next links).

        Raises:
            PageProblem: a loop (repeated cursor/link, too many pages) or a bad cursor field.
        """
        kind = self.config.type
        if kind == "none":
            return None
        if kind == "cursor":
            follow = self._cursor(payload, current)
        elif kind == "page_number":
            follow = self._page_number(payload, current, rows)
        elif kind == "offset":
            follow = self._offset(payload, current)
        else:
            follow = self._next_link(payload, current, url)
        if follow is not None and follow.number > self.config.max_pages:
            raise PageProblem(
                f"more than pagination.max_pages={self.config.max_pages} pages for one window; "
                "the provider may be looping, or raise max_pages"
            )
        return follow

    def _has_more(self, payload: Any) -> bool | None:
        if not self.config.has_more_field:
            return None
        value = dig(payload, self.config.has_more_field)
        if value is not None and not isinstance(value, bool):
            raise PageProblem(f"{self.config.has_more_field!r} is not true/false")
        return value

    def _remember(self, token: str, what: str) -> None:
        if token in self.seen:
            raise PageProblem(f"{what} {token[:60]!r} was already followed: pagination loop")
        self.seen.add(token)

    def _cursor(self, payload: Any, current: PageRequest) -> PageRequest | None:
        has_more = self._has_more(payload)
        cursor = dig(payload, self.config.next_cursor_field)
        if has_more is False or (has_more is None and cursor in (None, "")):
            return None
        if cursor in (None, "") or not isinstance(cursor, str | int):
            raise PageProblem(
                f"has_more is true but {self.config.next_cursor_field!r} is missing or not a string"
            )
        self._remember(str(cursor), "cursor")
        params = (current.params or self.first_params).set(self.config.cursor_param, str(cursor))
        return PageRequest(current.number + 1, current.url, params)

    def _page_number(self, payload: Any, current: PageRequest, rows: int) -> PageRequest | None:
        has_more = self._has_more(payload)
        if has_more is False or (has_more is None and rows == 0):
            return None
        page = self.config.first_page + current.number
        params = (current.params or self.first_params).set(self.config.page_param, str(page))
        return PageRequest(current.number + 1, current.url, params)

    def _offset(self, payload: Any, current: PageRequest) -> PageRequest | None:
        items = dig(payload, self.items_path)
        count = len(items) if isinstance(items, list) else 0
        has_more = self._has_more(payload)
        short = count == 0 or (self.config.page_size is not None and count < self.config.page_size)
        if has_more is False or (has_more is None and short):
            return None
        if count == 0:
            raise PageProblem(
                "has_more is true but the page holds no items: the offset would not move"
            )
        self.offset += count
        params = (current.params or self.first_params).set(
            self.config.offset_param, str(self.offset)
        )
        return PageRequest(current.number + 1, current.url, params)

    def _next_link(self, payload: Any, current: PageRequest, url: httpx.URL) -> PageRequest | None:
        link = dig(payload, self.config.next_link_field)
        if link in (None, ""):
            return None
        if not isinstance(link, str):
            raise PageProblem(f"{self.config.next_link_field!r} is not a URL string")
        target = url.join(link)
        if (target.scheme, target.host, target.port) != (url.scheme, url.host, url.port):
            raise PageProblem("next link points to another origin; refusing to send credentials")
        self._remember(str(target), "next link")
        return PageRequest(current.number + 1, str(target), None)
