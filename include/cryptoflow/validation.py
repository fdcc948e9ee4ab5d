"""Checks a response body against its endpoint's :class:`~cryptoflow.apis.base.BodyRule`.

Pure functions, no I/O: given the status, content type and text of a response, either return the parsed
body and its records, or raise :class:`InvalidBody` saying what was wrong (malformed JSON, an HTML page,
a missing field, a string where a number belongs, an empty page, an error inside a 200). The client adds
where (API, endpoint, parameters, interval) to the message.

The typed checks promise one thing: a value that passes can never fail the cast a dbt staging model makes
of ``record ->> 'field'`` (text from ``jsonb``): ``numeric`` values cast ``::numeric``, ``integers``
``::bigint``, ``timestamps`` ``::timestamptz`` (and mean the same instant whatever the session's time
zone). Facts behind the checks:

- orjson refuses ``NaN``, ``Infinity`` and numbers that overflow a double (``1e400``) as malformed JSON,
  so every number it yields is finite, and Postgres ``numeric`` holds every finite double and integer.
- ``'1.0'::bigint`` fails (``jsonb`` keeps the ``.0``), so an integer field refuses every JSON number
  written as a float, even ``3.0`` or ``1e3``.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson

from cryptoflow.apis.base import BodyRule


class InvalidBody(ValueError):
    """A response body that breaks its endpoint's rules; nothing from it may land."""


def parse_json(text: str, content_type: str | None = None) -> Any:
    """The JSON value of ``text``; an HTML page or malformed JSON raises :class:`InvalidBody`."""
    stripped = text.lstrip()
    if not stripped:
        raise InvalidBody("empty body")
    if stripped[:1] == "<" or (content_type and "html" in content_type.lower()):
        snippet = " ".join(stripped[:80].split())
        raise InvalidBody(f"an HTML page instead of JSON (content-type {content_type!r}): {snippet!r}")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidBody(f"malformed JSON ({exc}); body starts {stripped[:60]!r}") from None


def _dig(value: Any, path: Iterable[str]) -> Any:
    for key in path:
        if not isinstance(value, dict) or key not in value:
            raise KeyError(key)
        value = value[key]
    return value


def records_of(body: Any, rule: BodyRule) -> list[Any]:
    """The records a body holds, as a list (one record for ``kind="object"``)."""
    try:
        data = _dig(body, rule.items_path)
    except KeyError as exc:
        where = ".".join(rule.items_path)
        raise InvalidBody(f"missing {where!r} (no key {exc.args[0]!r})") from None
    if rule.kind in ("list", "rows"):
        if not isinstance(data, list):
            raise InvalidBody(f"expected a JSON array of records, got {type(data).__name__}")
        return data
    if rule.kind in ("map", "record_or_map"):
        if not isinstance(data, dict):
            raise InvalidBody(f"expected a JSON object, got {type(data).__name__}")
        if rule.kind == "record_or_map" and is_single_record(data, rule):
            return [data]
        return flatten_map(data)
    if not isinstance(data, dict):
        raise InvalidBody(f"expected a JSON object, got {type(data).__name__}")
    return [data]


def is_single_record(data: dict, rule: BodyRule) -> bool:
    """For ``record_or_map``: one record (CMC's answer for one id) rather than a map keyed by id."""
    return bool(rule.required) and rule.required[0].split(".")[0] in data


def flatten_map(data: dict) -> list[Any]:
    """The records of a map keyed by id or symbol; a symbol's value may be a list of records (CMC v2)."""
    out: list[Any] = []
    for value in data.values():
        out.extend(value if isinstance(value, list) else [value])
    return out


BIGINT = (-(2**63), 2**63 - 1)
_DIGITS = re.compile(r"[0-9]{1,19}")  # ids sent as strings (CMC DEX); longer cannot fit a bigint
# ISO-8601 date and time with an explicit UTC designator: Z, +00:00, +0000 or +00.
_UTC_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]{1,9})?)?(?:Z|\+00(?::?00)?)"
)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_integer(value: Any) -> bool:
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    return isinstance(value, int) and not isinstance(value, bool) and BIGINT[0] <= value <= BIGINT[1]


def _is_utc_timestamp(value: Any) -> bool:
    match = _UTC_TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return False
    try:  # the calendar: no month 13, no 30 February, no hour 24 or second 60
        datetime(*(int(part or 0) for part in match.groups()))
    except ValueError:
        return False
    return True


# (rule field, check, what the message says was expected)
TYPED = (
    ("numeric", _is_number, "a number"),
    ("integers", _is_integer, "an integer"),
    ("timestamps", _is_utc_timestamp, "an ISO-8601 UTC timestamp"),
)
MISSING = object()


def reach(record: Any, path: str) -> list[tuple[str, Any]]:
    """``(where, value)`` for every value a rule's ``path`` reaches in ``record``.

    ``path`` is dotted; a ``[]`` segment means every element of a list (``quotes[].quote[].open``), a
    segment of digits a position in an array (``0`` of a ``[ms, value]`` row). ``where`` is the concrete
    path (``quotes[2].quote[0].open``); ``value`` is :data:`MISSING` where a key is absent (or its parent
    is null). Something other than a list (or null) where the path says ``[]`` is :class:`InvalidBody`.
    """
    found: list[tuple[str, Any]] = [("", record)]
    for part in _segments(path):
        step: list[tuple[str, Any]] = []
        for where, node in found:
            if part != "[]":
                name = f"{where}.{part}" if where else part
                if isinstance(node, dict) and part in node:
                    step.append((name, node[part]))
                elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                    step.append((name, node[int(part)]))
                else:
                    step.append((name, MISSING))
            elif isinstance(node, list):
                step += [(f"{where}[{i}]", item) for i, item in enumerate(node)]
            elif node is None or node is MISSING:
                step.append((f"{where}[]", MISSING))
            else:
                raise InvalidBody(f"field {where!r} is {type(node).__name__}, expected a list")
        found = step
    return found


def check_status(body: Any, rule: BodyRule) -> None:
    """CMC-style ``status.error_code`` must be 0, even on HTTP 200."""
    if rule.status_path is None:
        return
    try:
        status = _dig(body, rule.status_path)
    except KeyError:
        raise InvalidBody("missing 'status' object") from None
    code = status.get("error_code") if isinstance(status, dict) else None
    if code not in (0, "0", None):
        raise InvalidBody(f"error inside HTTP 200: error_code {code}: {status.get('error_message')!r}")


def check_records(records: list[Any], rule: BodyRule, *, first_page: bool = True) -> None:
    """Every record has the required fields, and the typed fields hold what staging will cast them to."""
    if not records and not rule.allow_empty:
        raise InvalidBody("empty page" if not first_page else "empty response: no records")
    shape, shape_name = (list, "an array") if rule.kind == "rows" else (dict, "an object")
    for index, record in enumerate(records):
        if not isinstance(record, shape):
            raise InvalidBody(f"record {index} is {type(record).__name__}, not {shape_name}")
        label = record.get("id", index) if isinstance(record, dict) else index
        try:
            check_record(record, rule)
        except InvalidBody as exc:
            raise InvalidBody(f"record {label!r}: {exc}") from None


def check_record(record: Any, rule: BodyRule) -> None:
    """One record against ``rule``; the message names the field (the caller adds the record).

    The values are checked first without their concrete paths (:func:`_values`: a history body holds
    thousands of ``[ms, value]`` rows, and naming each one cost more than the rest of a call); only a
    field that fails is walked again with :func:`reach`, for the message."""
    nullable = set(rule.nullable)
    for name in rule.required:
        values = _values(record, name)
        if values is None or any(v is MISSING or (v is None and name not in nullable) for v in values):
            _explain_required(record, name, nullable)
    for kind, check, expected in TYPED:
        for name in getattr(rule, kind):
            values = _values(record, name)
            null_ok = name in nullable
            if values is None or not (_plainly(check, values) or all(
                    v is MISSING or (null_ok if v is None else check(v)) for v in values)):
                _explain_typed(record, name, null_ok, check, expected)


def _plainly(check, values: list[Any]) -> bool:
    """True when ``values`` all pass ``check`` at a glance: plain finite numbers, or plain integers in
    the BIGINT range (a JSON array of numbers, as orjson parses it). False says nothing: the values are
    then checked one by one."""
    if check is _is_number:
        return all(type(v) is float or type(v) is int for v in values) and all(map(math.isfinite, values))
    if check is _is_integer:
        return (all(type(v) is int for v in values)
                and (not values or (BIGINT[0] <= min(values) and max(values) <= BIGINT[1])))
    return False


def _values(record: Any, path: str) -> list[Any] | None:
    """The values :func:`reach` finds, without their paths; ``None`` where :func:`reach` raises (then
    it runs, and says where)."""
    found = [record]
    for part in _segments(path):
        step: list[Any] = []
        if part == "[]":
            for node in found:
                if isinstance(node, list):
                    step += node
                elif node is None or node is MISSING:
                    step.append(MISSING)
                else:
                    return None
        elif part.isdigit():
            at = int(part)
            step = [node[at] if isinstance(node, list) and at < len(node)
                    else node.get(part, MISSING) if isinstance(node, dict) else MISSING
                    for node in found]
        else:
            step = [node.get(part, MISSING) if isinstance(node, dict) else MISSING for node in found]
        found = step
    return found


@functools.cache
def _segments(path: str) -> tuple[str, ...]:
    return tuple(path.replace("[]", ".[]").split("."))


def _explain_required(record: Any, name: str, nullable: set[str]) -> None:
    for where, value in reach(record, name):
        if value is MISSING:
            raise InvalidBody(f"missing field {where!r}")
        if value is None and name not in nullable:
            raise InvalidBody(f"field {where!r} is null")


def _explain_typed(record: Any, name: str, null_ok: bool, check, expected: str) -> None:
    for where, value in reach(record, name):
        if value is MISSING:
            continue  # absence is the business of `required`
        if value is None:
            if not null_ok:
                raise InvalidBody(f"field {where!r} is null, expected {expected}")
        elif not check(value):
            kind_of = type(value).__name__
            raise InvalidBody(f"field {where!r} is {kind_of} {value!r}, expected {expected}")


def validate(text: str, content_type: str | None, rule: BodyRule, *, first_page: bool = True
             ) -> tuple[Any, list[Any]]:
    """Parse and check a 200 body; return ``(body, records)`` or raise :class:`InvalidBody`."""
    body = parse_json(text, content_type)
    check_status(body, rule)
    records = records_of(body, rule)
    check_records(records, rule, first_page=first_page)
    return body, records
