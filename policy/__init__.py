"""Policy as dated data: loads ``policy/*.yaml`` (and changes from other files), validates it with
pydantic, and installs it as the domain's policy in force.

A file maps rule families to parameters; a parameter has a description, a unit, and values keyed
by effective date, each with the ``reference`` to the regulation it comes from (OpenFisca's
shape). A change is a file of only the parameters that change, in the same shape. A deployment may
add changes in ``BENEFITS_POLICY_DIR``: they are picked up without a restart (``refresh``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.policy import FAMILIES, Parameter, PolicyBook, Value, install
from engine.errors import UserError

HERE = Path(__file__).resolve().parent
FAMILY_FILES = tuple(sorted(HERE.glob("*.yaml")))
# What each unit's values must be, and the largest a rule can use (a day mark is a day of a
# cycle's year, which the scheduler's contract caps at 366).
UNITS = ("day", "month", "rate", "divisor", "multiple", "score")
LARGEST = {"day": 366, "month": 1200, "divisor": 10_000, "multiple": 1000}
# Effective dates, as every other date the engine takes.
EARLIEST, LATEST = date(1900, 1, 1), date(2099, 12, 31)
# The certification marks, in the order a cycle must reach them.
MARKS = ("certification.invitation_day", "certification.blue_flag_day", "certification.hold_day")


class PolicyError(UserError):
    """A policy file that cannot be used: one line naming file, parameter and date."""


class _ValueEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: Any
    reference: str = Field(min_length=1)


class _ParameterEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str | None = Field(default=None, min_length=1)
    unit: str | None = None
    values: dict[date, _ValueEntry] = Field(min_length=1)


def _convert(unit: str, raw: Any) -> Any:
    """A value in its unit's type, or ValueError saying what it must be."""
    if unit in LARGEST:
        if type(raw) is not int or not 0 < raw <= LARGEST[unit]:
            largest = LARGEST[unit]
            raise ValueError(f"must be a whole number of {unit}s from 1 to {largest}, got {raw!r}")
        return raw
    if unit == "score":
        if type(raw) not in (int, float) or not 0 <= raw <= 1:
            raise ValueError(f"must be a score from 0 to 1, got {raw!r}")
        return float(raw)
    try:  # a rate: exact, from its decimal writing
        rate = Fraction(Decimal(str(raw)))
    except (InvalidOperation, ValueError):
        raise ValueError(f'must be a decimal rate such as "0.01", got {raw!r}') from None
    if not 0 <= rate <= 1:
        raise ValueError(f"must be a rate from 0 to 1, got {raw!r}")
    return rate


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping (YAML would keep the
    last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key} is written twice (line {line})", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise PolicyError(f"{path}: not UTF-8 text") from None
    except yaml.constructor.ConstructorError as exc:
        raise PolicyError(f"{path}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise PolicyError(f"{path}: not valid YAML{line}") from None
    except ValueError as exc:  # a date YAML reads as one but the calendar has not (2026-02-30)
        raise PolicyError(f"{path}: not a date of the calendar: {exc}") from None
    if not isinstance(loaded, dict):
        raise PolicyError(f"{path}: must map rule families to their parameters")
    return loaded


def _entries(path: Path, document: dict[str, Any]) -> Iterable[tuple[str, _ParameterEntry]]:
    for family, parameters in document.items():
        if family not in FAMILIES:
            known = ", ".join(FAMILIES)
            raise PolicyError(f"{path}: {family}: not a rule family (known: {known})")
        if not isinstance(parameters, dict):
            raise PolicyError(f"{path}: {family}: must map parameter names to parameters")
        for name, entry in parameters.items():
            full = f"{family}.{name}"
            values = entry.get("values") if isinstance(entry, dict) else None
            if isinstance(values, dict):  # name the date of a bad value, as written
                for day, value in values.items():
                    try:
                        _ValueEntry.model_validate(value)
                    except ValidationError as exc:
                        raise PolicyError(f"{path}: {full}: {day}: {_problem(exc)}") from None
            try:
                yield full, _ParameterEntry.model_validate(entry)
            except ValidationError as exc:
                raise PolicyError(f"{path}: {full}: {_problem(exc)}") from None


def _problem(exc: ValidationError) -> str:
    problem = exc.errors()[0]
    where = ".".join(str(p) for p in problem["loc"])
    return f"{where}: {problem['msg']}" if where else problem["msg"]


def load(
    changes: Iterable[Path] = (), proposed: Iterable[Path] = (), not_before: date | None = None
) -> PolicyBook:
    """The shipped policy with ``changes`` applied (a deployment's), then ``proposed`` ones
    (whose values apply no earlier than ``not_before``, when given). Raises PolicyError for
    anything unusable."""
    parameters: dict[str, Parameter] = {}
    sources: dict[str, Path] = {}
    for path in FAMILY_FILES:
        if path.name == "versions.yaml":
            continue
        for name, entry in _entries(path, _read(path)):
            if entry.description is None or entry.unit not in UNITS:
                raise PolicyError(
                    f"{path}: {name}: needs a description and a unit ({', '.join(UNITS)})"
                )
            parameters[name] = Parameter(name, entry.description, entry.unit, ())
            sources[name] = path
            parameters[name] = _with_values(path, parameters[name], entry, None)
    for family, shape in FAMILIES.items():
        for field_name in shape.__dataclass_fields__:
            if f"{family}.{field_name}" not in parameters:
                raise PolicyError(f"{HERE}: {family}.{field_name}: missing (every rule needs it)")
    for path, first in [(p, None) for p in changes] + [(p, not_before) for p in proposed]:
        for name, entry in _entries(path, _read(path)):
            if name not in parameters:
                raise PolicyError(f"{path}: {name}: not a parameter of the policy")
            parameters[name] = _with_values(path, parameters[name], entry, first)
            sources[name] = path
    _check_marks(parameters, sources)
    labels = {}
    versions_file = HERE / "versions.yaml"
    if versions_file.exists():
        for label, day in (_read(versions_file) or {}).items():
            if not isinstance(day, date) or not EARLIEST <= day <= LATEST:
                raise PolicyError(
                    f"{versions_file}: {label}: must be a date from {EARLIEST} to {LATEST},"
                    f" got {day!r}"
                )
            labels[day] = str(label)
    return PolicyBook.of(parameters, labels)


def _with_values(
    path: Path, parameter: Parameter, entry: _ParameterEntry, not_before: date | None
) -> Parameter:
    values = {v.effective: v for v in parameter.values}
    for day, given in entry.values.items():
        if not EARLIEST <= day <= LATEST:
            raise PolicyError(
                f"{path}: {parameter.name}: {day}: an effective date must be from {EARLIEST}"
                f" to {LATEST}"
            )
        try:
            value = _convert(parameter.unit, given.value)
        except ValueError as exc:
            raise PolicyError(f"{path}: {parameter.name}: {day}: value {exc}") from None
        effective = max(day, not_before) if not_before else day
        values[effective] = Value(effective, value, given.reference)
    return replace(parameter, values=tuple(values[d] for d in sorted(values)))


def _check_marks(parameters: dict[str, Parameter], sources: dict[str, Path]) -> None:
    """On every day one of them changes, the cycle's marks must come in order: invitation,
    blue flag, hold."""
    days = sorted({v.effective for name in MARKS for v in parameters[name].values})
    for day in days:
        for earlier, later in zip(MARKS, MARKS[1:], strict=False):
            before, after = parameters[earlier].on(day), parameters[later].on(day)
            if before.value < after.value:
                continue
            changed, since = max(((earlier, before), (later, after)), key=lambda c: c[1].effective)
            raise PolicyError(
                f"{sources[changed]}: {changed}: {since.effective}: {later.split('.')[1]}"
                f" ({after.value}) must come after {earlier.split('.')[1]} ({before.value})"
            )


def deployment_changes() -> list[Path]:
    """Changes a deployment adds (``BENEFITS_POLICY_DIR``, ``*.yaml`` or ``*.yml``), in name
    order."""
    folder = os.environ.get("BENEFITS_POLICY_DIR")
    if not folder:
        return []
    if not Path(folder).is_dir():
        raise PolicyError(f"BENEFITS_POLICY_DIR={folder}: no such directory")
    return sorted(p for p in Path(folder).iterdir() if p.suffix in (".yaml", ".yml"))


_seen: tuple[tuple[str, float], ...] | None = None
_unread = ""  # the last reason the deployment's folder could not be read, said once
log = logging.getLogger("benefits.policy")


def refresh(strict: bool = True) -> PolicyBook | None:
    """Install the shipped policy plus the deployment's changes, reloading only when those files
    changed since the last call (a running process picks up a new version without a restart).
    ``strict=False`` (a running worker or service): a change that cannot be used is logged once
    and the policy in force stays as it was, rather than stopping the process."""
    global _seen, _unread
    try:
        files = deployment_changes()
    except PolicyError as exc:
        if strict:
            raise
        if str(exc) != _unread:
            log.error("policy changes not read, the policy in force is unchanged: %s", exc)
        _unread = str(exc)
        return None
    _unread = ""
    try:
        stamp = tuple((str(p), p.stat().st_mtime) for p in files)
    except OSError:  # a file removed while we looked: look again next time
        return None
    if stamp == _seen:
        return None
    try:
        book = load(files)
    except PolicyError as exc:
        if strict:
            raise
        _seen = stamp
        log.error("policy change not applied, the policy in force is unchanged: %s", exc)
        return None
    install(book)
    _seen = stamp
    return book


def describe(book: PolicyBook, day: date) -> list[dict[str, Any]]:
    """Each parameter's value in force on ``day``, with its description, unit and reference."""
    shown = []
    for name, parameter in sorted(book.parameters.items()):
        value = parameter.on(day)
        shown.append(
            {
                "parameter": name,
                "value": _plain(value.value),
                "unit": parameter.unit,
                "since": value.effective.isoformat(),
                "reference": value.reference,
                "description": parameter.description,
            }
        )
    return shown


def differences(book: PolicyBook, first: date, second: date) -> list[dict[str, Any]]:
    """The parameters whose value on ``second`` differs from ``first``."""
    changed = []
    for name, parameter in sorted(book.parameters.items()):
        before, after = parameter.on(first), parameter.on(second)
        if before.value != after.value:
            changed.append(
                {
                    "parameter": name,
                    "from": _plain(before.value),
                    "to": _plain(after.value),
                    "since": after.effective.isoformat(),
                    "reference": after.reference,
                }
            )
    return changed


def _plain(value: Any) -> Any:
    return (
        str(Decimal(value.numerator) / Decimal(value.denominator))
        if isinstance(value, Fraction)
        else value
    )
