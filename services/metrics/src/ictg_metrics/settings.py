from typing import ClassVar, Self

from pydantic import Field, model_validator

from ictg_common.settings import ServiceSettings, service_config

DEV_CELL_KEY_SECRET = "dev-only-cell-key-secret-change-me"


class MetricsSettings(ServiceSettings):
    model_config = service_config("ICTG_METRICS_")
    PEER_TOKENS: ClassVar[tuple[str, ...]] = ("cases_token",)

    port: int = 8003
    # Reconciliation reads the case API's own counts (GET /v1/admin/case-counts) with a service token; in
    # development the token is minted from ICTG_AUTH_SECRET.
    cases_url: str = "http://127.0.0.1:8002"
    cases_token: str | None = None
    # The key of each child's record key for the cell key method (docs/disclosure.md): keep it secret and never
    # change it (record keys, so published values, would change with it). Read by the fold through
    # `ictg_metrics.disclosure.cellkey.child_record_key`.
    cell_key_secret: str = DEV_CELL_KEY_SECRET
    # A ptable CSV (columns pcv, ckey, pvalue) instead of the shipped noisy one (ictg_noise_d5).
    ptable: str | None = None
    # Flexible queries under differential privacy (`disclosure=dp`, package `ictg_metrics.privacy`): the
    # privacy loss (epsilon) each principal may spend per calendar month (Europe/London), and what one
    # query spends unless it asks for another `epsilon`. Eight queries a month at the defaults; a repeated
    # query is answered from its stored answer and spends nothing.
    dp_monthly_epsilon: float = Field(default=4.0, gt=0, le=20)
    dp_query_epsilon: float = Field(default=0.5, gt=0, le=20)
    # How often to check whether last month's release is due (0: never; `POST /v1/admin/releases` still
    # publishes one). The first check runs a minute after start.
    release_check_seconds: float = 3600.0
    # Who readers of a release's workbook (its cover sheet) should write to about the figures.
    publication_contact: str = Field(default="The ICTG service's statistics team", min_length=1, max_length=300)

    @model_validator(mode="after")
    def _own_cell_key_secret(self) -> Self:
        # Anyone knowing the key could recompute cell keys and undo the perturbation.
        if not self.auth_development and self.cell_key_secret == DEV_CELL_KEY_SECRET:
            raise ValueError(
                "ICTG_METRICS_CELL_KEY_SECRET is required outside development (ICTG_AUTH_DEVELOPMENT=false)"
            )
        return self

    @model_validator(mode="after")
    def _query_within_budget(self) -> Self:
        if self.dp_query_epsilon > self.dp_monthly_epsilon:
            raise ValueError("ICTG_METRICS_DP_QUERY_EPSILON is more than ICTG_METRICS_DP_MONTHLY_EPSILON")
        return self
