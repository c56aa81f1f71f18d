from pydantic import model_validator

from ictg_common.settings import ServiceSettings, service_config


class MetricsSettings(ServiceSettings):
    model_config = service_config("ICTG_METRICS_")

    port: int = 8003
    # Reconciliation reads the case API's own counts (GET /v1/admin/case-counts) with a service token; in
    # development the token is minted from ICTG_AUTH_SECRET.
    cases_url: str = "http://127.0.0.1:8002"
    cases_token: str | None = None

    @model_validator(mode="after")
    def _cases_token(self) -> "MetricsSettings":
        # With production keys (JWKS) the case API refuses HS256 tokens: reconciliation could never
        # succeed with a self-minted one. Fail at start-up, not on every run.
        if self.auth_jwks_url and not self.cases_token:
            raise ValueError("ICTG_METRICS_CASES_TOKEN is required when ICTG_AUTH_JWKS_URL is set")
        return self
