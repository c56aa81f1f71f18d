"""A dimension: its SQL and the words the data dictionary gives it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ictg_common.codes import value_label

Kind = Literal["text", "bool", "int"]


@dataclass(frozen=True)
class Dimension:
    """One dimension: its SQL and, for the data dictionary (`GET /v1/metrics/dimensions`), its words."""

    name: str
    sql: str
    multi: bool = False  # sql is an array of the child's distinct values
    kind: Kind = "text"
    values: tuple[str, ...] | None = None  # the codes a filter may ask for (None: any), in natural order
    label: str = ""  # a short human label
    definition: str = ""  # what the dimension means, in plain words
    value_labels: tuple[str, ...] | None = None  # labels of `values`, in the same order (default: from the code)
    catalogue: Callable[[], tuple[tuple[str, str], ...]] | None = None  # (value, label) where values is None
    values_note: str | None = None  # what the values are when they cannot all be listed
    top: int | None = None  # kind int: the largest value, which also counts every larger one (`sql` caps it)
    nullable: bool = False  # a child can have no value (null): a table listing every cell lists null last

    def __post_init__(self) -> None:
        if not (self.label and self.definition):
            raise ValueError(f"dimension {self.name} needs a label and a definition")
        if self.value_labels is not None and (self.values is None or len(self.value_labels) != len(self.values)):
            raise ValueError(f"dimension {self.name}: one label per value")

    def labelled_values(self) -> list[tuple[str | bool, str]] | None:
        """Every value in its natural order with its label, or None where the values are open-ended."""
        if self.kind == "bool":
            return [(False, "No"), (True, "Yes")]
        if self.values is not None:
            labels = self.value_labels or tuple(value_label(v) for v in self.values)
            return list(zip(self.values, labels, strict=True))
        if self.catalogue is not None:
            return list(self.catalogue())
        return None


def band_labels(bands: tuple[str, ...], unit: str) -> tuple[str, ...]:
    """`0-1` → "0–1 days", `40+` → "40 days or more", `2` → "2 days"; other codes (`none`) as codes."""

    def one(band: str) -> str:
        if band.endswith("+") and band[:-1].isdigit():
            return f"{band[:-1]} {unit} or more"
        low, _, high = band.partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            return f"{low}–{high} {unit}" if high else f"{band} {unit}"
        return value_label(band)

    return tuple(one(b) for b in bands)
