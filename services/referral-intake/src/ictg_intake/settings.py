from ictg_common.settings import ServiceSettings, service_config


class IntakeSettings(ServiceSettings):
    model_config = service_config("ICTG_INTAKE_")

    port: int = 8001
    allocation_working_days: int = 1
    first_contact_working_days: int = 1
    late_referral_after_days: int = 1
