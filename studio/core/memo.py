"""A small in-memory memo with least-recently-used eviction, torch-free."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any


class Memo:
    """Values by key in memory, the least recently used dropped past ``max_items``: each
    style (or content) is encoded once per run. ``None`` is remembered too (an unreadable
    input is not read again)."""

    def __init__(self, max_items: int = 4096):
        self.max_items = max_items
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self.misses = 0

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = compute()
        self.misses += 1
        self._items[key] = value
        if len(self._items) > self.max_items:
            self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every value (a new model makes them stale); ``misses`` keeps counting."""
        self._items.clear()

    def __contains__(self, key: Any) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)
