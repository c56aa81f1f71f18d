"""Intake's runtime, typed: its settings, and no running parts of its own (`ictg_common.runtime`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from ictg_common.runtime import Runtime, runtime_dependency

from .settings import IntakeSettings

IntakeRuntime = Runtime[IntakeSettings, None]
IntakeRuntimeDep = Annotated[IntakeRuntime, Depends(runtime_dependency(IntakeSettings, type(None)))]
