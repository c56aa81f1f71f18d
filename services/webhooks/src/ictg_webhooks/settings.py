"""Settings of the webhooks service (`ICTG_WEBHOOKS_*`, plus the shared `ICTG_*`)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from ictg_common.settings import ServiceSettings, service_config

# The retry schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h (then the delivery has failed).
RETRY_SCHEDULE = [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0, 72000.0, 86400.0]


class WebhooksSettings(ServiceSettings):
    model_config = service_config("ICTG_WEBHOOKS_")

    port: int = 8004
    # Targets resolving to loopback or private addresses (make run sets it for local receivers);
    # link-local and cloud metadata addresses are refused whatever this says.
    allow_private_targets: bool = False
    # https targets only (also whenever ICTG_AUTH_DEVELOPMENT is off: production).
    https_only: bool = False
    retry_schedule_seconds: list[float] = Field(default_factory=lambda: list(RETRY_SCHEDULE), min_length=1)
    retry_jitter: float = Field(default=0.1, ge=0, le=0.5)  # ± this share of each wait
    retry_after_max_seconds: float = Field(default=86400.0, gt=0)  # a receiver's Retry-After is honoured up to this
    timeout_seconds: float = Field(default=15.0, gt=0)
    disable_after_seconds: float = Field(default=5 * 86400.0, gt=0)  # failing this long straight: disabled
    rotation_overlap_seconds: float = Field(default=86400.0, ge=0)  # old secret still signs this long
    worker_poll_seconds: float = Field(default=0.5, gt=0)
    concurrency: int = Field(default=64, ge=1)  # deliveries in flight per process
    # In flight to one subscription: a window between these two, growing by one for each 2xx answer within
    # `slow_seconds` (at most doubling a batch), halving when it answers slower or fails (a slow receiver
    # holds few).
    per_subscription_concurrency: int = Field(default=4, ge=1, le=1000)
    max_per_subscription_concurrency: int = Field(default=64, ge=1, le=1000)
    slow_seconds: float = Field(default=1.0, gt=0)
    # A claimed delivery is a worker's for timeout + this: then (the worker died) another sends it.
    lease_margin_seconds: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _window_bounds(self) -> Self:
        if self.max_per_subscription_concurrency < self.per_subscription_concurrency:
            raise ValueError(
                "ICTG_WEBHOOKS_MAX_PER_SUBSCRIPTION_CONCURRENCY is under ICTG_WEBHOOKS_PER_SUBSCRIPTION_CONCURRENCY"
            )
        return self

    @property
    def https_required(self) -> bool:
        return self.https_only or not self.auth_development

    @property
    def lease_seconds(self) -> float:
        """How long a claimed delivery is this worker's: after that (a dead worker) another sends it."""
        return self.timeout_seconds + self.lease_margin_seconds
