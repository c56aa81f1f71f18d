from ictg_common.settings import ServiceSettings, service_config


class MetricsSettings(ServiceSettings):
    model_config = service_config("ICTG_METRICS_")

    port: int = 8003
    long_term_missing_days: int = 60
