"""What is made once from a stored release (its workbook, its dashboard's charts) and kept in memory.

A release is never recomputed, so neither is what is made from it. The key names the stored release by its
name *and* when it was published: two databases (or a release deleted and published again) never share an
entry."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class Kept(Generic[V]):
    """The last `most` things made, by key (least recently made dropped first)."""

    def __init__(self, most: int = 8) -> None:
        self.most = most
        self._kept: OrderedDict[tuple[Any, ...], V] = OrderedDict()

    @staticmethod
    def key(release: Any, *more: Any) -> tuple[Any, ...]:
        return (release.release, release.published_at.isoformat(), *more)

    def get(self, key: tuple[Any, ...]) -> V | None:
        return self._kept.get(key)

    def put(self, key: tuple[Any, ...], value: V) -> V:
        self._kept[key] = value
        while len(self._kept) > self.most:
            self._kept.popitem(last=False)
        return value
