"""Checks a response body against its endpoint's :class:`~cryptoflow.apis.base.BodyRule`.

Pure functions, no I/O: given the status, content type and text of a response, either return the parsed
body and its records, or raise :class:`InvalidBody` saying what was wrong (malformed JSON, an HTML page,
a missing field, a string where a number belongs, an empty page, an error inside a 200). The client adds
where (API, endpoint, parameters, interval) to the message.
"""

from __future__ import annotations

from collections.abc import Iterable
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
    if rule.kind == "list":
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


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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
    """Every record has the required fields and numbers where numbers belong."""
    if not records and not rule.allow_empty:
        raise InvalidBody("empty page" if not first_page else "empty response: no records")
    nullable = set(rule.nullable)
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidBody(f"record {index} is {type(record).__name__}, not an object")
        label = record.get("id", index)
        for name in rule.required:
            try:
                value = _dig(record, name.split("."))
            except KeyError:
                raise InvalidBody(f"record {label!r}: missing field {name!r}") from None
            if value is None and name not in nullable:
                raise InvalidBody(f"record {label!r}: field {name!r} is null")
        for name in rule.numeric:
            try:
                value = _dig(record, name.split("."))
            except KeyError:
                continue  # absence is the business of `required`
            if value is None:
                if name not in nullable:
                    raise InvalidBody(f"record {label!r}: field {name!r} is null, expected a number")
                continue
            if not _is_number(value):
                raise InvalidBody(
                    f"record {label!r}: field {name!r} is {type(value).__name__} {value!r}, expected a number"
                )


def validate(text: str, content_type: str | None, rule: BodyRule, *, first_page: bool = True
             ) -> tuple[Any, list[Any]]:
    """Parse and check a 200 body; return ``(body, records)`` or raise :class:`InvalidBody`."""
    body = parse_json(text, content_type)
    check_status(body, rule)
    records = records_of(body, rule)
    check_records(records, rule, first_page=first_page)
    return body, records
