"""A snapshot holds the state of a replay of the person's facts, so that loading a long history
continues that replay instead of replaying every fact again. What is read back is the same
replay: every attribute equal, shared objects shared again, and it goes on as the original."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from domain.certification import History
from domain.entitlement import Replay
from domain.facts import FACT_TYPES, Fact
from domain.pensioner import GoldenRecord, Pensioner
from domain.policy import PolicyBook, install, installed
from domain.replay_state import replay_from, state_of
from tests.snapshots import reloaded, store_transcoder, stored_snapshot

ELIGIBILITY = {
    "scheme": "enterprise_employee",
    "contribution_months": 360,
    "indexed_wage_cents": 600_000,
    "regional_average_wage_cents": 800_000,
    "personal_account_cents": 12_345_600,
    "retirement_age": 60,
}
RECORD = GoldenRecord(
    national_id="110101195003070136",
    name="刘洋",
    birth_date=date(1950, 3, 7),
    sex="F",
    region="110101",
    monthly_pension_cents=300_000,
    bank_account="6222021234567890",
    bank_region="110101",
)


def a_full_life() -> Pensioner:
    """A person whose replay holds something of every kind: cycles (one held, one certified),
    custody, month points, a review, proxies (granted, pending, refused) and evidence after
    death."""
    p = Pensioner.register("P1", "reg", date(2025, 1, 1), replace(RECORD, monthly_pension_cents=0))
    p.establish_eligibility("eligible", date(2025, 1, 1), **ELIGIBILITY)
    p.change_bank_account("account", date(2025, 1, 2), "6222029999999999", "110101")
    p.observe_life_evidence("ev-1", date(2025, 2, 20), "transit_tap")
    for month in range(1, 13):
        p.run_payment(f"pay-{month}", date(2025, month, 1), f"2025-{month:02d}", 1)
        if month == 3:
            p.open_cycle("open-2025", date(2025, 3, 1), 2025)
    p.open_cycle("open-2026", date(2026, 3, 1), 2026)
    for mark, day in ((30, date(2026, 3, 31)), (90, date(2026, 5, 30)), (120, date(2026, 6, 29))):
        p.reach_deadline(f"mark-{mark}", day, 2026, mark)
    p.run_payment("pay-2026-07", date(2026, 7, 1), "2026-07", 3)
    p.review_payment("review-1", date(2026, 7, 2), "2026-07", "pension", True)
    p.start_custody("custody-1", date(2026, 7, 10), "CASE-1")
    p.end_custody("custody-1-end", date(2026, 7, 20), "CASE-1")
    for n, score in enumerate((0.97, 0.5)):
        p.request_proxy(
            f"proxy-{n}",
            date(2026, 8, 1),
            requester_id=f"R{n}",
            relationship="child",
            kinship_proof={"reference": f"ref-{n}", "score": score},
            scopes=["status"],
            valid_until=date(2027, 8, 1),
        )
    p.review_proxy_request("proxy-review", date(2026, 8, 3), "proxy-1", True, "seen", "staff-1")
    p.revoke_proxy("proxy-revoked", date(2026, 8, 4), "proxy-1", "P1", "principal")
    p.verify_liveness("live-1", date(2026, 8, 5), "app")
    p.observe("life_certificate_submitted", "cert-1", date(2026, 8, 6), {"issuing_office": "X"})
    p.register_death("death", date(2026, 9, 10), date(2026, 9, 1))
    p.observe_life_evidence("ev-late", date(2026, 9, 5), "hospital_visit")
    p.review_evidence("ev-late-review", date(2026, 9, 12), "ev-late", True, "death stands", "s-1")
    return p


def read_back(replay: Replay, facts: dict[str, Fact]) -> Replay | None:
    """Through the event store's own JSON, as a snapshot is stored."""
    transcoder = store_transcoder()
    state = transcoder.decode(transcoder.encode({"replay": state_of(replay)}))["replay"]
    return replay_from(state, facts, History())


def attributes(replay: Replay) -> dict:
    return {k: v for k, v in vars(replay).items() if k != "history"}


def test_a_replay_of_every_kind_of_fact_reads_back_as_the_same_replay() -> None:
    p = a_full_life()
    assert {f.kind for f in p.facts.values()} == set(FACT_TYPES)
    original = Replay.of(p.facts.values(), p.held_history())
    assert original.cycles and original.custody == {} and original.reviews
    assert {g.status for g in original.proxies.values()} == {"ended", "revoked"}
    assert original.evidence_alerts and original.months and original.checks

    restored = read_back(original, p.facts)

    assert restored is not None
    assert attributes(restored) == attributes(original)
    assert restored.cycle is restored.cycles[restored.cycle.year]  # one object, as before
    assert all(e is p.facts[e.event_id] for e in restored.evidence)
    assert state_of(restored) == state_of(original)  # the same state again: verify compares


def test_a_replay_read_back_goes_on_as_the_original() -> None:
    p = Pensioner.register("P1", "reg", date(2025, 1, 1), RECORD)
    for month in range(1, 4):
        p.run_payment(f"pay-{month}", date(2025, month, 1), f"2025-{month:02d}", 1)
    p.open_cycle("open-2025", date(2025, 3, 1), 2025)
    original = Replay.of(p.facts.values(), p.held_history())
    restored = read_back(original, p.facts)
    assert restored is not None
    for fact in (
        Fact(
            "certification_deadline_reached",
            "m30",
            date(2025, 3, 31),
            {"cycle_year": 2025, "mark": 30},
        ),
        Fact("life_evidence", "ev", date(2025, 4, 2), {"kind": "transit_tap"}),
        Fact("payment_due", "pay-5", date(2025, 5, 1), {"month": "2025-05"}),
    ):
        assert original.can_extend(fact) and restored.can_extend(fact)
        original.extend(fact)
        restored.extend(fact)
    assert restored.assessment() == original.assessment()
    assert restored.cycles[2025].status == "certified"


def test_a_state_naming_a_fact_that_is_not_there_is_not_used() -> None:
    p = a_full_life()
    state = state_of(Replay.of(p.facts.values(), p.held_history()))
    facts = {k: v for k, v in p.facts.items() if k != "ev-1"}
    assert replay_from(state, facts, History()) is None


def test_a_state_written_with_other_attributes_is_not_used() -> None:
    p = a_full_life()
    state = state_of(Replay.of(p.facts.values(), p.held_history()))
    assert state is not None
    older = [[name, value] for name, value in state if name != "points_from"]
    assert replay_from(older, p.facts, History()) is None


def test_a_snapshot_taken_under_other_rules_is_loaded_as_every_event_would_be() -> None:
    """A deployment's change can reach back to facts already replayed (here: payments held at
    day 100 instead of 120): a person loaded from a snapshot taken before it decides as one
    loaded from every event, under the rules in force now."""
    p = Pensioner.register("P1", "reg", date(2025, 1, 1), RECORD)
    p.open_cycle("open-2026", date(2026, 3, 1), 2026)
    log = p.collect_events()
    snapshot = stored_snapshot(p)
    book = installed()
    hold = book.parameters["certification.hold_day"]
    earlier = replace(hold, values=tuple(replace(v, value=100) for v in hold.values))
    install(PolicyBook.of({**book.parameters, hold.name: earlier}, book.labels))
    try:
        from_snapshot, from_events = reloaded(log, snapshot), reloaded(log, None)
        for person in (from_snapshot, from_events):
            for mark, day in ((30, date(2026, 3, 31)), (90, date(2026, 5, 30))):
                person.reach_deadline(f"mark-{mark}", day, 2026, mark)
            person.reach_deadline("mark-100", date(2026, 6, 9), 2026, 100)
        assert from_events.standing.benefit_status == "held"
        assert from_snapshot.status == from_events.status
    finally:
        install(book)
