"""The dimensions of a child as referred: when, who, where from, in what circumstances (fixed at referral)."""

from __future__ import annotations

from ictg_common import codes
from ictg_common.reference import REGION_SLUGS, REGIONS

from .model import Dimension, band_labels
from .sql import (
    column,
    financial_year_of,
)
from .words import (
    DELAY_BANDS,
    LONDON,
    MONTH_NOTE,
    TOP_AGE,
    B,
    V,
    local_authority_values,
    nationality_values,
)

AT_REFERRAL: list[Dimension] = [
    Dimension(
        "referral_month",
        "to_char(c.received_on, 'YYYY-MM')",
        label="Month of referral",
        definition=f"The month the referral was received (`received_at`), {LONDON}.",
        values_note=MONTH_NOTE,
    ),
    Dimension(
        "referral_quarter",
        "to_char(c.received_on, 'YYYY-\"Q\"Q')",
        label="Quarter of referral",
        definition=f"The calendar quarter the referral was received (`received_at`), {LONDON}.",
        values_note="Any calendar quarter, written YYYY-Qn (e.g. 2017-Q1 is January to March 2017).",
    ),
    Dimension(
        "referral_year",
        "to_char(c.received_on, 'YYYY')",
        label="Year of referral",
        definition=f"The calendar year the referral was received (`received_at`), {LONDON}.",
        values_note="Any year, written YYYY (e.g. 2017).",
    ),
    Dimension(
        "referral_financial_year",
        financial_year_of("c.received_on"),
        label="Financial year of referral",
        definition=f"The financial year (April to March) the referral was received (`received_at`), {LONDON}.",
        values_note="Any financial year, written YYYY-YY (e.g. 2017-18 is April 2017 to March 2018).",
    ),
    Dimension(
        "gender",
        column("gender"),
        values=V(codes.Gender),
        label="Gender",
        definition="The child's gender, as recorded at referral.",
    ),
    Dimension(
        "age_band",
        column("age_band"),
        values=V(codes.AgeBand),
        label="Age band at referral",
        value_labels=band_labels(V(codes.AgeBand), "years"),
        definition="The child's age at referral, in bands of whole years; unknown when the date of birth is not known.",
    ),
    Dimension(
        "age_at_referral",
        f"LEAST({column('age_at_referral')}, {TOP_AGE})",
        kind="int",
        label="Age at referral",
        definition=f"The child's age at referral, in whole years, {TOP_AGE} standing for {TOP_AGE} or over (an age "
        "in dispute can be any); null when the date of birth is not known.",
        values_note=f"A whole number of years from 0 to {TOP_AGE} (e.g. 15); {TOP_AGE} means {TOP_AGE} or over.",
        top=TOP_AGE,
        nullable=True,
    ),
    Dimension(
        "nationality",
        column("nationality"),
        label="Nationality",
        catalogue=nationality_values,
        definition="The child's nationality at referral: an ISO 3166 two-letter country code, stateless or unknown.",
    ),
    Dimension(
        "nationality_group",
        column("nationality_group"),
        values=V(codes.NationalityGroup),
        label="Nationality group",
        definition="The child's nationality at referral, grouped: UK, EEA, outside the EEA (stateless included), or unknown.",
    ),
    Dimension(
        "uasc",
        column("uasc"),
        kind=B,
        label="Unaccompanied asylum-seeking child",
        definition="Whether the child was an unaccompanied asylum-seeking child (UASC) at referral.",
    ),
    Dimension(
        "primary_exploitation",
        column("primary_exploitation"),
        values=V(codes.ExploitationType),
        label="Primary exploitation type",
        definition="The main type of exploitation recorded at referral.",
    ),
    Dimension(
        "exploitation_type",
        "c.exploitation_type",
        multi=True,
        values=V(codes.ExploitationType),
        label="Exploitation types",
        definition="Every type of exploitation recorded at referral (the primary one and any others). Multi-valued: "
        "a child counts once under each of their types, while totals stay distinct children.",
    ),
    Dimension(
        "county_lines",
        column("county_lines"),
        kind=B,
        label="County lines",
        definition="Whether county lines exploitation was recorded at referral.",
    ),
    Dimension(
        "referrer_type",
        column("referrer_type"),
        values=V(codes.OrganisationType),
        label="Referrer type",
        definition="The type of organisation that made the referral.",
    ),
    Dimension(
        "local_authority",
        column("local_authority_code"),
        label="Local authority at referral",
        catalogue=local_authority_values,
        definition="The child's upper-tier local authority at referral, as its ONS (GSS) code.",
        values_note="GSS codes of the upper-tier local authorities of England and Wales as at April 2025; "
        "data recorded before a reorganisation may carry a former code.",
    ),
    Dimension(
        "region",
        column("region"),
        values=tuple(REGION_SLUGS),
        value_labels=REGIONS,
        label="Region at referral",
        definition="The region of the child's local authority at referral (England's nine regions, and Wales).",
    ),
    Dimension(
        "pathway",
        column("pathway"),
        values=V(codes.Pathway),
        label="Pathway",
        definition="The service pathway the child was placed on at referral.",
    ),
    Dimension(
        "living_situation_at_referral",
        column("living_situation"),
        values=V(codes.LivingSituation),
        label="Living situation at referral",
        definition="Where the child was living at referral.",
    ),
    Dimension(
        "trafficker_contact_at_referral",
        column("trafficker_contact"),
        values=V(codes.TraffickerContact),
        label="Contact with trafficker at referral",
        definition="The child's contact with the (suspected) trafficker, as recorded at referral.",
    ),
    Dimension(
        "education_at_referral",
        column("education"),
        values=V(codes.Education),
        label="Education at referral",
        definition="Whether the child was attending education at referral.",
    ),
    # an empty list of involvement means none
    Dimension(
        "cjs_involvement",
        "(CASE WHEN cardinality(c.cjs_involvement) = 0 THEN ARRAY['none']::text[] ELSE c.cjs_involvement END)",
        multi=True,
        values=(*V(codes.CjsInvolvement), "none"),
        label="Criminal justice involvement at referral",
        definition="The child's involvement with the criminal justice system recorded at referral (victim, witness, "
        "accused), none if there was none. Multi-valued: a child counts once under each value.",
    ),
    Dimension(
        "missing_at_referral",
        column("missing_at_referral"),
        kind=B,
        label="Missing at referral",
        definition="True if the child was missing when the referral was made, false otherwise.",
    ),
    Dimension(
        "referral_delay_band",
        column("referral_delay_band"),
        values=DELAY_BANDS,
        value_labels=band_labels(DELAY_BANDS, "days"),
        label="Referral delay",
        definition="Calendar days from the day the child was identified to the day the referral was received "
        "(`received_on − identified_on`), in bands: 0-1, 2, 3-15, 16-39, 40+.",
    ),
    Dimension(
        "referral_delay_working_days_band",
        column("referral_delay_working_days_band"),
        values=DELAY_BANDS,
        value_labels=band_labels(DELAY_BANDS, "working days"),
        label="Referral delay (working days)",
        definition="Working days from the day the child was identified to the day the referral was received: the "
        "days after `identified_on` up to and including `received_on` that are Monday to Friday and not an "
        "England-and-Wales bank holiday, in bands: 0-1, 2, 3-15, 16-39, 40+.",
    ),
]
