"""`Context`: who asks, and what of the app a case read or write needs (no HTTP in it).

The HTTP dependencies that build one from a request (`ReadCtx`, `WriteCtx`, `AdminCtx`) are in `access.py`;
a consumer or a test builds one directly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ictg_common.auth import Actor

from ..models import Case
from ..settings import CasesSettings

# After a case write's change, before its version moves on: (session, case, the record written, action).
AfterWrite = Callable[[AsyncSession, Case, Any, str], Awaitable[None]]


@dataclass(frozen=True)
class Context:
    """Who asks, and what of the app a case read or write needs: no HTTP in it, so a unit of work runs
    the same from an endpoint, a consumer or a test."""

    actor: Actor
    break_glass: str | None
    settings: CasesSettings
    # Refusals are audited in a transaction of their own (the request's rolls back with the refusal).
    sessionmaker: async_sessionmaker[AsyncSession]
    if_match: str | None = None
    after_write: tuple[AfterWrite, ...] = ()
