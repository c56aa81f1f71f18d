from ictg_common.settings import ServiceSettings, service_config


class CasesSettings(ServiceSettings):
    model_config = service_config("ICTG_CASES_")

    port: int = 8002
    intake_url: str = "http://127.0.0.1:8001"
    # Service token for the claim check; in development it is minted from ICTG_AUTH_SECRET.
    intake_token: str | None = None
    long_term_missing_days: int = 60
    maximum_duration_months: int | None = None
