"""The JSON answers of the metrics endpoints, built as these models: each endpoint's `response_model`
(OpenAPI, `/docs`) says what each field means, and the endpoint constructs the answer as the model (its
rows validated into the row model), then sends the model's `wire()` form.

The wire form (`ictg_metrics.wire`) keeps the answer as it was built: fields in the order given (a row's
dimension fields first, then its counts, then what is withheld; a stored answer's `privacy` as it was
stored), fields never given left out, and numbers as computed (a whole-number quantile stays 2, not 2.0)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from ..wire import Count, Number, Shaped

COUNT = "Noisy (disclosure=dp), perturbed (perturb) or true (none) count; perturbed, null when withheld (under 10)."


class Row(Shaped):
    """One cell of the table: the value of each `group_by` dimension (a field named after it), then the
    counts. Dimension fields are not listed here as they depend on `group_by`."""

    model_config = ConfigDict(extra="allow")
    withheld: bool | None = Field(default=None, description="True when some value of the row is withheld.")
    withheld_fields: list[str] | None = Field(default=None, description="The fields withheld (null) in this row.")
    small: list[str] | None = Field(
        default=None, description="disclosure=dp: the fields under 10 (shown, but their noise is large beside them)."
    )


class PtableParameters(Shaped):
    """The perturbation table's parameters, computed from its rows."""

    name: str = Field(description="The ptable's name (also in the `ICTG-Ptable` header).")
    threshold: Count = Field(description="Published values under this are withheld.")
    max_noise: Count = Field(description="A published count is within this of the true count.")
    variance: Number = Field(description="The variance of the noise (its mean is 0), where the threshold clips none.")


class PrivacyBudget(Shaped):
    monthly: Number = Field(description="The epsilon you may spend per calendar month (Europe/London).")
    spent: Number = Field(description="The epsilon spent this month, this query included.")
    remaining: Number = Field(description="What remains this month.")
    resets_at: str = Field(description="When the budget is renewed: the 1st of next month, midnight in London.")


class Privacy(Shaped):
    """How an answer under differential privacy was computed (`disclosure=dp`)."""

    mechanism: Literal["discrete_laplace"] = Field(description="The noise added to every count (OpenDP).")
    epsilon: Number = Field(description="The privacy loss this answer spent (its counts and quantiles together).")
    sensitivity: Count = Field(description="The most the answer's counts together can move with one child more.")
    scale: Number = Field(description="The noise's scale: sensitivity / the epsilon spent on counts.")
    interval_95: Count = Field(description="A noisy count is within this of the true one 95 % of the time.")
    counts_epsilon: Number | None = Field(default=None, description="Timeliness: the epsilon spent on counts.")
    quantiles: dict[str, Any] | None = Field(
        default=None, description="Timeliness: the quantiles' mechanism (OpenDP's exponential quantile over a fixed "
        "grid of `candidates`), their epsilon, and how many one child can change (`releases`)."
    )  # fmt: skip
    budget: PrivacyBudget = Field(description="Your privacy budget this month, after this answer.")
    replayed: bool = Field(description="True when this is the stored answer to the same query, at no cost.")
    answered_at: str = Field(description="When the answer was computed (a replay: first).")


class Answer(Shaped):
    measure: str = Field(description="`children`, `caseload` or `timeliness`.")
    as_of: str = Field(description="The day (London) whose end the figures describe, YYYY-MM-DD.")
    filters: dict[str, Any] = Field(description="The referral period and the filters applied, as asked.")
    group_by: list[str] = Field(description="The grouping dimensions, in order (empty with `totals=only`).")
    disclosure: Literal["dp", "perturb", "none"] = Field(description="How counts were disclosed.")
    privacy: Privacy | None = Field(default=None, description="disclosure=dp: the noise and your privacy budget.")
    ptable: PtableParameters | None = Field(
        default=None, description="The perturbation table: name and parameters (disclosure=perturb)."
    )
    note: str | None = Field(default=None, description="What perturbation means for reading the table.")


class ChildrenRow(Row):
    children: Count | None = Field(description=f"Children in the group. {COUNT}")


class ChildrenAnswer(Answer):
    rows: list[ChildrenRow] = Field(description="One row per group (the total alone when not grouped).")
    total: Count | None = Field(description=f"Distinct children in scope. {COUNT}")
    total_withheld: bool | None = Field(default=None, description="True when the total is withheld.")
    total_small: bool | None = Field(default=None, description="disclosure=dp: true when the total is under 10.")


class CaseloadRow(Row):
    month: str = Field(description="YYYY-MM.")
    referrals_in: Count | None = Field(description=f"Referrals received in the month. {COUNT}")
    exits_out: Count | None = Field(description=f"Exits in the month, on or before as_of. {COUNT}")
    in_service_end: Count | None = Field(description=f"Children in service at the month's end. {COUNT}")


class CaseloadAnswer(Answer):
    model_config = ConfigDict(populate_by_name=True)
    from_: str = Field(alias="from", description="First month, YYYY-MM.")
    to: str = Field(description="Last month, YYYY-MM.")
    rows: list[CaseloadRow] = Field(description="One row per group and month.")


class Statistic(Shaped):
    count: Count | None = Field(description=f"Cases the statistic is computed over. {COUNT}")
    median: Number | None = Field(
        description="Median; null (withheld) with its count: always under 10 cases, sometimes up to 14 with the "
        "shipped ptable. Under dp never null: a value of a fixed grid chosen by OpenDP's exponential mechanism."
    )
    p75: Number | None = Field(description="75th percentile; as the median.")
    p90: Number | None = Field(description="90th percentile; as the median.")


class Deadline(Shaped):
    met: Count | None = Field(description=f"Cases that met the deadline. {COUNT}")
    decided: Count | None = Field(description=f"Cases decided by as_of: met, late, or past due. {COUNT}")


class TimelinessRow(Row):
    children: Count | None = Field(description=f"Children in the group. {COUNT}")
    referral_delay_days: Statistic = Field(description="Identification to referral, calendar days.")
    referral_delay_working_days: Statistic = Field(description="Identification to referral, working days.")
    hours_to_allocation: Statistic = Field(description="Referral to allocation to a guardian, hours.")
    hours_to_first_contact: Statistic = Field(description="Referral to first contact attempt, hours.")
    days_to_first_contact: Statistic = Field(description="Referral to first contact attempt, calendar days.")
    referral_deadline: Deadline = Field(description="Referred within 1 day of identification.")
    allocation_deadline: Deadline = Field(description="Allocated by the end of the next working day.")
    first_contact_deadline: Deadline = Field(description="First contact attempted by the end of the next working day.")
    met_referral_deadline: Number | None = Field(description="met / decided of the referral deadline (0–1).")
    met_allocation_deadline: Number | None = Field(description="met / decided of the allocation deadline (0–1).")
    met_first_contact_deadline: Number | None = Field(description="met / decided of the first contact deadline.")


class TimelinessAnswer(Answer):
    rows: list[TimelinessRow] = Field(description="One row per group.")
