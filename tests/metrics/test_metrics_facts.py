"""The fold: a child's facts are a pure function of the set of its events."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from ictg_metrics.children.facts import Ev, first_seen, fold, main_party_timeline
from ictg_metrics.children.referral import referral_delay_band
from tests.support.metrics_events import Child, at


def _ev(e) -> Ev:
    return Ev(str(e.id), e.type, e.time, e.model_dump(mode="json")["data"])


def _story() -> list[Ev]:
    child = Child(at("2017-03-01", 9), attrs={"missing_at_referral": True})
    child.allocate(at("2017-03-01", 15)).contact(at("2017-03-02"), outcome="attempted", method="phone")
    child.contact(at("2017-03-03"), topics=["safety", "education"]).contact(at("2017-03-20"), party="social_worker")
    child.contact(at("2017-04-20"), party="foster_carer", method="phone").contact(
        at("2017-05-01"), party="social_worker"
    )
    child.missing(at("2017-06-01"), at("2017-08-15")).nrm(at("2017-04-01"), "reasonable_grounds", "positive")
    child.nrm(at("2017-09-01"), "conclusive_grounds", "negative").nrm(
        at("2017-10-01"), "conclusive_grounds", "positive"
    )
    child.advocacy(at("2017-05-05"), "legal_advice", "immigration").advocacy(at("2017-05-06"), "meeting", "health")
    child.move(at("2017-07-01"), "E09000001", "london").exit(at("2018-01-31", 23, 30), "turned_18", "la_adult_services")
    return [_ev(e) for e in child.events]


STORY = _story()


def test_story_facts() -> None:
    f = fold(STORY)
    assert f["received_on"] == date(2017, 3, 1) and f["allocated_on"] == date(2017, 3, 1)
    assert f["first_contact_on"] == date(2017, 3, 2)  # the attempt counts as first contact
    assert f["child_contact_on"] == [date(2017, 3, 3)]
    assert f["f2f_contact_on"] == [date(2017, 3, 3)]
    assert f["topic"] == ["education", "safety"] and f["topic_on"] == [date(2017, 3, 3)] * 2
    # main third party: social worker, then a 1–1 tie goes to foster_carer, then social worker again
    assert f["main_tp"] == ["social_worker", "foster_carer", "social_worker"]
    assert f["main_tp_on"] == [date(2017, 3, 20), date(2017, 4, 20), date(2017, 5, 1)]
    assert f["legal_area"] == ["immigration"]
    assert f["rg_outcome"] == ["positive"] and f["cg_outcome"] == ["negative", "positive"]
    assert f["move_la"] == ["E09000001"] and f["move_region"] == ["london"]
    # the episode open at referral is not "missing in service"; the one from 1 June is
    assert f["missing_start_on"] == [date(2017, 3, 1), date(2017, 6, 1)]
    assert f["missing_end_on"] == [None, date(2017, 8, 15)]
    assert f["missing_in_service_on"] == date(2017, 6, 1)
    assert f["exit_on"] == date(2018, 1, 31) and f["exit_reason"] == "turned_18"  # 23:30 London, not the UTC day
    assert f["exploitation_type"] == ["criminal", "labour"] and f["missing_at_referral"] is True
    assert f["referral_delay_band"] == "0-1" and f["allocation_due_by"] is not None
    # identified Tuesday 28 Feb, received Wednesday 1 March
    assert f["referral_delay_working_days"] == 1 and f["referral_delay_working_days_band"] == "0-1"


def test_referral_delay_band_edges() -> None:
    assert [referral_delay_band(d) for d in (0, 1, 2, 3, 15, 16, 39, 40)] == [
        "0-1", "0-1", "2", "3-15", "3-15", "16-39", "16-39", "40+",
    ]  # fmt: skip


def _delays(identified_on: date, received: str) -> tuple[int, str, int, str]:
    f = fold([_ev(e) for e in Child(at(received), identified_on=identified_on).events])
    return (
        f["referral_delay_days"], f["referral_delay_band"],
        f["referral_delay_working_days"], f["referral_delay_working_days_band"],
    )  # fmt: skip


def test_referral_delay_in_working_days_skips_the_weekend() -> None:
    # identified on a Friday, referred the following Tuesday: 4 calendar days, 2 working days (Mon, Tue)
    assert _delays(date(2026, 11, 20), "2026-11-24") == (4, "3-15", 2, "2")


def test_referral_delay_in_working_days_skips_bank_holidays() -> None:
    # 25 Dec 2026 (Fri) and 28 Dec (Mon, Boxing Day substitute) are bank holidays in England and Wales:
    # of 25–29 Dec only Tuesday 29 is a working day
    assert _delays(date(2026, 12, 24), "2026-12-29") == (5, "3-15", 1, "0-1")


def test_referral_delay_in_working_days_same_day_and_london_date() -> None:
    assert _delays(date(2026, 11, 24), "2026-11-24") == (0, "0-1", 0, "0-1")
    # 23:30 London on Monday is Monday's referral even in BST (22:30 UTC)
    f = fold([_ev(e) for e in Child(at("2026-06-01", 23, 30), identified_on=date(2026, 5, 29)).events])
    assert (f["referral_delay_days"], f["referral_delay_working_days"]) == (3, 1)


def test_first_seen_keeps_each_value_once_by_its_first_day() -> None:
    d1, d2, d3 = date(2017, 1, 1), date(2017, 1, 2), date(2017, 1, 3)
    assert first_seen([(d2, "nrm"), (d1, "safety"), (d3, "nrm"), (d2, "health")]) == (
        [d1, d2, d2],
        ["safety", "health", "nrm"],
    )


def test_main_party_timeline_ties_go_to_the_alphabetically_first() -> None:
    d1, d2, d3 = date(2017, 1, 1), date(2017, 1, 2), date(2017, 1, 3)
    # on one day police and a teacher: a tie at 1–1, police first alphabetically
    assert main_party_timeline([(d1, "teacher"), (d1, "police")]) == ([d1], ["police"])
    assert main_party_timeline([(d1, "teacher"), (d2, "police"), (d3, "teacher")]) == (
        [d1, d2, d3],
        ["teacher", "police", "teacher"],
    )
    assert main_party_timeline([]) == ([], [])


def test_case_events_before_the_referral_give_an_unreferred_child() -> None:
    f = fold([e for e in STORY if "referral" not in e.type])
    assert f["received_on"] is None and f["allocated_on"] == date(2017, 3, 1)


@settings(max_examples=200, deadline=None)
@given(st.permutations(STORY), st.lists(st.sampled_from(STORY), max_size=10))
def test_any_order_and_any_duplicates_give_the_same_facts(order: list[Ev], extra: list[Ev]) -> None:
    assert fold([*order, *extra]) == fold(STORY)


@settings(max_examples=100, deadline=None)
@given(st.sets(st.integers(min_value=0, max_value=len(STORY) - 1)), st.randoms(use_true_random=False))
def test_any_subset_in_any_order_folds_the_same(subset: set[int], rnd) -> None:
    events = [STORY[i] for i in sorted(subset)]
    shuffled = events[:]
    rnd.shuffle(shuffled)
    assert fold(shuffled + shuffled[:3]) == fold(events)
