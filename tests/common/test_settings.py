"""Settings a service cannot run with are refused at start-up, not discovered on every call."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from ictg_cases.settings import CasesSettings
from ictg_common.settings import ServiceSettings
from ictg_metrics.settings import MetricsSettings

# Keyword arguments for a settings class (validated and coerced by it, as its environment would be).
SCRAPE: dict[str, Any] = {"scrape_token": "a-real-scrape-token"}
PRODUCTION_OTHERWISE: dict[type[ServiceSettings], dict[str, Any]] = {
    CasesSettings: SCRAPE,
    MetricsSettings: {"cell_key_secret": "a-real-key", **SCRAPE},
}


@pytest.mark.parametrize(
    ("settings", "variable", "token"),
    [
        (CasesSettings, "ICTG_CASES_INTAKE_TOKEN", "intake_token"),
        (MetricsSettings, "ICTG_METRICS_CASES_TOKEN", "cases_token"),
    ],
)
def test_production_keys_need_the_peer_token_a_service_sends(
    settings: type[ServiceSettings], variable: str, token: str
) -> None:
    others = PRODUCTION_OTHERWISE[settings]
    with pytest.raises(
        ValidationError,
        match=f"{variable}, or .*CLIENT_ID and .*CLIENT_SECRET with ICTG_AUTH_TOKEN_URL, are required outside development",
    ):
        settings(auth_development=False, **others)
    with_token: dict[str, Any] = {token: "issued", **others}
    issued = settings(auth_development=False, **with_token)
    assert getattr(issued, token) == "issued"
    client = settings(auth_development=False, client_id="c", client_secret=SecretStr("s"), auth_token_url="https://id/oauth2/token",
                      **others)  # fmt: skip
    assert client.client_credentials == ("https://id/oauth2/token", "c", "s")  # its own client at the token service
    assert getattr(settings(auth_development=True), token) is None  # development: minted from ICTG_AUTH_SECRET


def test_production_metrics_need_their_own_cell_key_secret() -> None:
    """Anyone holding the development key could recompute cell keys and undo the perturbation."""
    with pytest.raises(ValidationError, match="ICTG_METRICS_CELL_KEY_SECRET is required"):
        MetricsSettings(auth_development=False, cases_token="issued", **SCRAPE)
    ok = MetricsSettings(auth_development=False, cases_token="issued", cell_key_secret="k",
                         **SCRAPE)  # fmt: skip
    assert ok.cell_key_secret == "k"


@pytest.mark.parametrize("settings", [CasesSettings, MetricsSettings])
def test_production_keys_need_a_scrape_token_of_their_own(settings: type[ServiceSettings]) -> None:
    """GET /metrics answers the scrape token alone: the development one is public (it is in this repository)."""
    others = {k: v for k, v in PRODUCTION_OTHERWISE[settings].items() if k != "scrape_token"}
    peer: dict[str, Any] = {"intake_token": "issued"} if settings is CasesSettings else {"cases_token": "issued"}
    with pytest.raises(ValidationError, match="ICTG_SCRAPE_TOKEN is required outside development"):
        settings(auth_development=False, **peer, **others)
    assert settings(auth_development=False, **peer, **others, **SCRAPE).scrape_token
