"""A replay's state as plain data, for a snapshot: loading a person with a long history then
continues the replay the snapshot holds instead of replaying every fact again.

The state is a tree of lists, strings, numbers, booleans and None (what the event store's JSON
transcoder keeps as it is). Facts are referred to by their event ID (the snapshot holds them
already), a list of facts as one list of IDs; a mutable object met twice (a cycle that is both
``cycle`` and one of ``cycles``) is written once and referred to after that, so it is one object
again when read back. Sets are written in a stable order, so the same replay always makes the
same state: ``benefits audit verify`` compares a snapshot with the one a person's events make.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import date
from enum import Enum
from functools import lru_cache
from typing import Any

from domain.certification import Cycle, History
from domain.entitlement import Replay
from domain.facts import BenefitStatus, Decision, Fact, Notice, RiskLevel, Standing
from domain.payroll import MonthPoint, Review
from domain.policy import installed
from domain.proxies import ProxyGrant

# Every class a replay's attributes hold, by name. A replay holding anything else is not
# written (``state_of`` returns None): loading that person replays every fact, as before.
_CLASSES: dict[str, type] = {
    c.__name__: c for c in (Cycle, Decision, Notice, Standing, MonthPoint, Review, ProxyGrant)
}
_ENUMS: dict[str, type[Enum]] = {e.__name__: e for e in (BenefitStatus, RiskLevel)}
_NOT_WRITTEN = frozenset({"history"})  # what really happened: the aggregate's own money
# Increased when what a replay of the same facts yields changes in a way the attribute names do
# not show (a rule's reasons or details): a state stamped otherwise is not used, or checked.
STATE_VERSION = 1


class _Unwritable(Exception):
    pass


def stamp() -> str:
    """What a replay's state is valid for: this module's ``STATE_VERSION`` and the policy book
    installed now (a deployment's change can reach back to facts already replayed)."""
    return _stamp_of(installed().fingerprint)


@lru_cache(maxsize=8)
def _stamp_of(fingerprint: str) -> str:
    return f"{STATE_VERSION}:{fingerprint}"  # one string, kept by every cached person


def state_of(replay: Replay) -> list[Any] | None:
    """``replay``'s attributes as plain data (None when it holds something not listed above)."""
    memo: dict[int, int] = {}
    try:
        return [
            [name, _plain(value, memo)]
            for name, value in vars(replay).items()
            if name not in _NOT_WRITTEN
        ]
    except _Unwritable:
        return None


def replay_from(state: Any, facts: Mapping[str, Fact], history: History) -> Replay | None:
    """The replay ``state_of`` wrote, its facts taken from ``facts``; None when the state cannot
    be read back (a fact it names is not there, a class it names is unknown)."""
    memo: dict[int, Any] = {}
    try:
        attributes = {name: _object(value, memo, facts) for name, value in state}
    except (_Unwritable, KeyError, IndexError, TypeError, ValueError):
        return None
    if attributes.keys() != _replay_attributes():
        return None  # written by a version whose replay kept other things
    replay = object.__new__(Replay)
    replay.__dict__.update(attributes, history=history)
    return replay


@lru_cache(maxsize=1)
def _replay_attributes() -> frozenset[str]:
    return frozenset(vars(Replay(None, History()))) - _NOT_WRITTEN


def _plain(value: Any, memo: dict[int, int]) -> Any:
    if value is None or isinstance(value, bool | int | float) and not isinstance(value, Enum):
        return value
    if isinstance(value, Enum):
        if type(value).__name__ not in _ENUMS:
            raise _Unwritable(type(value).__name__)
        return ["E", type(value).__name__, value.value]
    if isinstance(value, str):
        return value
    if isinstance(value, date):
        if type(value) is not date:
            raise _Unwritable(type(value).__name__)
        return ["d", value.isoformat()]
    if isinstance(value, Fact):
        return ["F", value.event_id]
    if isinstance(value, tuple):
        return ["T", [_plain(v, memo) for v in value]]
    if isinstance(value, frozenset):
        return ["Z", sorted((_plain(v, memo) for v in value), key=repr)]
    if dataclasses.is_dataclass(value) and _CLASSES.get(type(value).__name__) is not type(value):
        raise _Unwritable(type(value).__name__)
    mutable = not (dataclasses.is_dataclass(value) and type(value).__dataclass_params__.frozen)  # type: ignore[attr-defined]
    if mutable:
        if id(value) in memo:
            return ["R", memo[id(value)]]
        memo[id(value)] = n = len(memo)
    else:
        n = -1
    if dataclasses.is_dataclass(value):
        fields = [_plain(getattr(value, f.name), memo) for f in dataclasses.fields(value)]
        return ["C", type(value).__name__, n, fields]
    if isinstance(value, list):
        if value and all(type(v) is Fact for v in value):  # signs of life: the longest lists
            return ["FL", n, [v.event_id for v in value]]
        return ["L", n, [_plain(v, memo) for v in value]]
    if isinstance(value, set):
        return ["S", n, sorted((_plain(v, memo) for v in value), key=repr)]
    if isinstance(value, dict):
        return ["D", n, [[_plain(k, memo), _plain(v, memo)] for k, v in value.items()]]
    raise _Unwritable(type(value).__name__)


def _object(value: Any, memo: dict[int, Any], facts: Mapping[str, Fact]) -> Any:
    if not isinstance(value, list):
        return value
    tag = value[0]
    read: Callable[[Any], Any] = lambda v: _object(v, memo, facts)  # noqa: E731
    if tag == "F":
        return facts[value[1]]
    if tag == "d":
        return date.fromisoformat(value[1])
    if tag == "E":
        return _ENUMS[value[1]](value[2])
    if tag == "R":
        return memo[value[1]]
    if tag == "T":
        return tuple(read(v) for v in value[1])
    if tag == "Z":
        return frozenset(read(v) for v in value[1])
    if tag == "C":
        _, name, n, fields = value
        made = _CLASSES[name](*(read(v) for v in fields))
        if n >= 0:
            memo[n] = made
        return made
    n, items = value[1], value[2]
    if tag == "FL":
        memo[n] = made = [facts[event_id] for event_id in items]
        return made
    if tag == "L":
        memo[n] = made = []
        made.extend(read(v) for v in items)
        return made
    if tag == "S":
        memo[n] = made = set()
        made.update(read(v) for v in items)
        return made
    if tag == "D":
        memo[n] = made = {}
        for k, v in items:
            made[read(k)] = read(v)
        return made
    raise _Unwritable(str(tag))
