"""The case API's settings (`ictg_cases.settings`): what production refuses to start without."""

from __future__ import annotations


def test_production_keys_without_a_claim_check_token_refuse_to_start() -> None:
    import pytest

    from ictg_cases.settings import CasesSettings

    with pytest.raises(ValueError, match="ICTG_CASES_INTAKE_TOKEN"):
        CasesSettings(auth_development=False, scrape_token="a-real-scrape-token")
    assert CasesSettings(auth_development=False, intake_token="t",
                         scrape_token="a-real-scrape-token").intake_token == "t"  # fmt: skip
