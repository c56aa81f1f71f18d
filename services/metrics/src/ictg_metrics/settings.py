from typing import ClassVar, Self

from pydantic import model_validator

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
    # The key of each child's record key for the cell key method (DESIGN §9): keep it secret and never
    # change it (record keys, so published values, would change with it). Read by the fold through
    # `ictg_metrics.disclosure.cellkey.child_record_key`.
    cell_key_secret: str = DEV_CELL_KEY_SECRET
    # A ptable CSV (columns pcv, ckey, pvalue) instead of the shipped ONS 10-5 table.
    ptable: str | None = None

    @model_validator(mode="after")
    def _own_cell_key_secret(self) -> Self:
        # Anyone knowing the key could recompute cell keys and undo the perturbation.
        if self.auth_jwks_url and self.cell_key_secret == DEV_CELL_KEY_SECRET:
            raise ValueError("ICTG_METRICS_CELL_KEY_SECRET is required when ICTG_AUTH_JWKS_URL is set")
        return self
