"""What a referrer is told when its `local_authority_code` is no upper-tier authority: the right code when
the value names one (a district's code, a name), and always where to look codes up. Pure."""

from __future__ import annotations

from ictg_common.reference import districts, find, former_counties, local_authority

LOOKUP = "GET /v1/reference/local-authorities?q="


def not_an_authority(value: str) -> str:
    """The 422's words for `value`, a `local_authority_code` that is no upper-tier authority of the table."""
    where = f"look it up by name, code or district with `{LOOKUP}`"
    code = value.strip().upper()
    county = [d for d in former_counties() if d.code == code]
    if county:
        now = " or ".join(f"{la.name}'s, {la.code}" for d in county if (la := local_authority(d.authority_code)))
        return (
            f"{code} was {county[0].name}, a county until April 2023: children's services there are now {now} ({where})"
        )
    district = next((d for d in districts() if d.code == code), None)
    if district is not None and (la := local_authority(district.authority_code)) is not None:
        was = "was" if district.abolished_on else "is"
        return (
            f"{district.code} {was} {district.name}, a lower-tier district: children's services there are "
            f"{la.name}'s, {la.code} ({where})"
        )
    found = find(value) if len(value) <= 100 and value.strip() else []
    if len(found) == 1 and not found[0].authority.code.startswith(code):  # a name (or a district's), not a code
        la = found[0].authority
        return f"is a name, not a local authority code: {la.name}'s is {la.code} ({where})"
    return f"is not the ONS code of an upper-tier local authority of England or Wales, e.g. E08000003: {where}"
