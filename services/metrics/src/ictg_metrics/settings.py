from typing import ClassVar

from ictg_common.settings import ServiceSettings, service_config


class MetricsSettings(ServiceSettings):
    model_config = service_config("ICTG_METRICS_")
    PEER_TOKENS: ClassVar[tuple[str, ...]] = ("cases_token",)

    port: int = 8003
    # Reconciliation reads the case API's own counts (GET /v1/admin/case-counts) with a service token; in
    # development the token is minted from ICTG_AUTH_SECRET.
    cases_url: str = "http://127.0.0.1:8002"
    cases_token: str | None = None
