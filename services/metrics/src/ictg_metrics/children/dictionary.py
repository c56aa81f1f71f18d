"""The data dictionary (`GET /v1/metrics/dimensions`, for analysts): every dimension the
metrics endpoints accept in `group_by` and as a filter, with the words kept next to its SQL in the `dimensions` package (`dimensions/catalogue.py`)."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import BaseModel, Field

from ..dimensions import DIMENSIONS, Dimension


class DimensionValue(BaseModel):
    value: str | bool = Field(description="The value as the API writes it in rows and takes in a filter.")
    label: str = Field(description="A human label for the value (a local authority's or region's name).")


class DimensionEntry(BaseModel):
    name: str = Field(description="The name to use in `group_by` and as a filter `<name>=<value>`.")
    label: str = Field(description="A short human label.")
    definition: str = Field(description="What the dimension means, in plain words, evaluated as of `as_of`.")
    kind: Literal["text", "bool", "int"] = Field(description="The type of its values: text, bool (true/false) or int.")
    multi_valued: bool = Field(
        description="True if a child can have several values: a child counts once under each value, while "
        "totals stay distinct children."
    )
    values: list[DimensionValue] | None = Field(
        description="Every value in its natural order (bands in numeric order, codes in the vocabulary's order, "
        "false before true), each with a label; null where the values are open-ended (see `values_note`)."
    )
    values_note: str | None = Field(default=None, description="What the values are, where they are not all listed.")


class DataDictionary(BaseModel):
    dimensions: list[DimensionEntry] = Field(
        description="Every dimension the metrics endpoints accept in `group_by` and as filters, and no other."
    )


def entry(dim: Dimension) -> DimensionEntry:
    values = dim.labelled_values()
    return DimensionEntry(
        name=dim.name, label=dim.label, definition=dim.definition, kind=dim.kind, multi_valued=dim.multi,
        values=None if values is None else [DimensionValue(value=v, label=label) for v, label in values],
        values_note=dim.values_note,
    )  # fmt: skip


@cache
def data_dictionary() -> DataDictionary:
    """The dictionary, built once: it changes only with the code."""
    return DataDictionary(dimensions=[entry(d) for d in DIMENSIONS.values()])
