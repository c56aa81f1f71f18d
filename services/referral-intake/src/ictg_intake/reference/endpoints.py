"""Code lists and local authorities, for a referrer's developer to look codes up (any valid token)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, WithJsonSchema

from ictg_common.auth import CurrentActor
from ictg_common.codes import CODE_LISTS, country_names, value_label, values
from ictg_common.inputs import StorableText
from ictg_common.reference import REGIONS, find, region_slug

router = APIRouter(prefix="/v1/reference", tags=["reference"])


class DistrictOut(BaseModel):
    """A lower-tier district (or a county abolished in 2023) that the query named: its children's services are
    the authority's."""

    code: str = Field(
        description="The district's ONS (GSS) code: not a `local_authority_code`.", examples=["E07000033"]
    )
    name: str = Field(description="The district's name.", examples=["Bolsover"])
    abolished_on: date | None = Field(
        description="The day a reorganisation ended the district (the authority is its successor); null if it stands.",
        examples=[None],
    )


class LocalAuthorityOut(BaseModel):
    """An upper-tier local authority of England or Wales."""

    code: str = Field(description="Its ONS (GSS) code: give it as `local_authority_code`.", examples=["E08000003"])
    name: str = Field(description="Its name.", examples=["Manchester"])
    region: str = Field(description="Its region's code (list `region` of /v1/reference/codes).")
    region_name: str = Field(description="Its region's name.")
    districts: list[DistrictOut] = Field(
        default_factory=list,
        description="The lower-tier districts of this authority that your query named (`q=bolsover` finds "
        "Derbyshire through Bolsover), or the county abolished in 2023 it took over from (`q=cumbria` finds "
        "Cumberland and Westmorland and Furness); empty when its own name or code matched.",
    )


class LocalAuthorityList(BaseModel):
    """Local authorities, by name."""

    items: list[LocalAuthorityOut] = Field(description="Every local authority that matched, by name.")


class Code(BaseModel):
    """One code and what it means."""

    code: str = Field(description="The code, as the API takes and answers it.")
    label: str = Field(description="What a person reads for it.")


class CodeList(BaseModel):
    """A list of codes: the lower_snake words the API, the events and the metrics share."""

    name: str = Field(description="The list's name, as field descriptions refer to it.")
    description: str = Field(description="Where the list is used.")
    codes: list[Code] = Field(description="Its codes, in their natural order.")


class CodeLists(BaseModel):
    """Every code list the APIs take or answer."""

    items: list[CodeList] = Field(description="The lists, by name.")


def _lists() -> list[CodeList]:
    lists = [
        CodeList(name=name, description=about, codes=[Code(code=v, label=value_label(v)) for v in values(kind)])
        for name, (about, kind) in CODE_LISTS.items()
    ]
    nationality = [Code(code=c, label=n) for c, n in country_names()]
    nationality += [Code(code="stateless", label="Stateless"), Code(code="unknown", label="Unknown")]
    lists.append(
        CodeList(
            name="nationality",
            description="`child.nationality`: an ISO 3166-1 alpha-2 code in capitals (GB for the UK), stateless or "
            "unknown.",
            codes=nationality,
        )
    )
    lists.append(
        CodeList(
            name="region",
            description="Regions of England, and Wales: derived from the local authority.",
            codes=[Code(code=region_slug(r), label=r) for r in REGIONS],
        )
    )
    return sorted(lists, key=lambda c: c.name)


@router.get("/codes", response_model=CodeLists)
async def codes(actor: CurrentActor) -> CodeLists:
    """Every code list of the platform (what `organisation_type`, `gender`, `nationality`,
    `exploitation_type`, … may be), each code with its label."""
    return CodeLists(items=_lists())


@router.get("/local-authorities", response_model=LocalAuthorityList)
async def list_local_authorities(
    actor: CurrentActor,
    q: Annotated[
        StorableText | None,
        Query(
            max_length=100,
            description="Part of a name, letter case, accents and punctuation aside, words in any order (`manc` "
            "finds Manchester, `st helens` St. Helens); or an ONS code or its beginning (`E08000003`, `E09`); or a "
            "lower-tier district's name or code (`bolsover` finds Derbyshire, in `districts`).",
        ),
        WithJsonSchema({"type": "string", "maxLength": 100}),  # optional, never null: a query value is text
    ] = None,
) -> LocalAuthorityList:
    """The upper-tier local authorities of England and Wales (the `local_authority_code` a referral
    takes), by name; `q` keeps those it names, by their name, their code or one of their districts."""
    return LocalAuthorityList(
        items=[
            LocalAuthorityOut(
                code=f.authority.code, name=f.authority.name, region=region_slug(f.authority.region),
                region_name=f.authority.region,
                districts=[DistrictOut(code=d.code, name=d.name, abolished_on=d.abolished_on) for d in f.districts],
            )
            for f in find(q or "")
        ]
    )  # fmt: skip
