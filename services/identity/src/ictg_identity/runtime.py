"""Identity's runtime, typed: its settings and its own running parts (`ictg_common.runtime`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, FastAPI

from ictg_common.runtime import Runtime, runtime_dependency, typed_runtime

from .settings import IdentitySettings

if TYPE_CHECKING:
    from .oauth import TokenDesk


@dataclass(frozen=True)
class IdentityExtras:
    """What identity runs besides the common parts: the token endpoint's keys and limits."""

    desk: TokenDesk

    def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


IdentityRuntime = Runtime[IdentitySettings, IdentityExtras]
IdentityRuntimeDep = Annotated[IdentityRuntime, Depends(runtime_dependency(IdentitySettings, IdentityExtras))]


def identity_runtime(app: FastAPI) -> IdentityRuntime:
    return typed_runtime(app, IdentitySettings, IdentityExtras)
