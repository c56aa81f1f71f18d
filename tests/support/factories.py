"""Test data: a valid referral body (as a police force would file it) with overrides."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any


def referral_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "identified_on": (date.today() - timedelta(days=1)).isoformat(),
        "referrer": {
            "organisation_type": "police", "organisation_name": "Greater Manchester Police",
            "contact_name": "DC Jane Smith", "contact_email": "j.smith@example.police.uk",
            "contact_phone": "0161 000 0000",
        },
        "local_authority_code": "E08000003",
        "child": {
            "given_name": "An", "family_name": "Nguyen", "other_names": [], "date_of_birth": "2010-03-04",
            "estimated_age": None, "age_disputed": False, "gender": "male", "nationality": "VN",
            "first_language": "vi", "interpreter_required": True,
        },
        "parental_responsibility_in_uk": False,
        "exploitation": {"primary": "criminal", "others": ["labour"], "county_lines": False},
        "missing_at_referral": False,
        "nrm": {"referred": True, "reference": None},
        "circumstances": {
            "living_situation": "foster_care", "trafficker_contact": "suspected", "education": "not_attending",
            "cjs_involvement": [], "uasc": True,
        },
        "notes": "Found at a car wash.",
    }  # fmt: skip
    body = copy.deepcopy(body)
    for path, value in overrides.items():
        target = body
        keys = path.split("__")
        for k in keys[:-1]:
            target = target[k]
        target[keys[-1]] = value
    if body["child"]["nationality"] == "GB" and "circumstances__uasc" not in overrides:
        body["circumstances"]["uasc"] = False  # a British national is not an asylum-seeking child (422)
    return body
