"""Request checking: the body is read, decoded, parsed and checked against the
same JSON Schema the OpenAPI document publishes, so the document and the
behaviour cannot drift apart.

Only the subset of JSON Schema the document uses is implemented: type (one or a
list), required, properties, additionalProperties (bool), minProperties,
min/maxLength, minimum/maximum, min/maxItems, items, enum, pattern, format "date".
"""
from __future__ import annotations

import datetime as dt
import json
import re

from hotline.api.errors import (MalformedJSON, NotUTF8, PayloadTooLarge,
                                UnsupportedMediaType, WrongType)
from hotline.errors import EmptyText, InvalidInput, TextTooLong

_JSON_TYPES = {
    "string": str, "object": dict, "array": list, "boolean": bool, "null": type(None),
}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def read_json(request, max_bytes: int):
    """Parse the request body as a JSON object; every failure is a 4xx with a code."""
    mimetype = (request.mimetype or "").lower()
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType(
            f"Content-Type {request.content_type or '(none)'!r} is not supported; "
            "send 'application/json'")
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"charset {charset!r} is not supported; send UTF-8 JSON")
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLarge(
            f"the body has {request.content_length} bytes; the limit is {max_bytes}")
    raw = request.get_data(cache=True)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"the body has {len(raw)} bytes; the limit is {max_bytes}")
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotUTF8(f"the body is not valid UTF-8 (byte {exc.start}: "
                      f"{raw[exc.start:exc.start + 1]!r})") from None
    if not body.strip():
        raise MalformedJSON("the body is empty; expected a JSON object")
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise MalformedJSON(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedJSON("the body is nested too deeply") from None
    return data


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _type_ok(value, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _JSON_TYPES[kind])


def check(value, schema: dict, where: str = "body") -> None:
    """Raise InvalidInput (or a subclass) naming the first bad value found."""
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_type_ok(value, k) for k in kinds):
            raise WrongType(f"{where} must be {' or '.join(kinds)}, got {_describe(value)}")
    if "enum" in schema and value not in schema["enum"]:
        raise InvalidInput(f"{where} is {value!r}; expected one of {schema['enum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise EmptyText(f"{where} is empty" if not value else
                            f"{where} has {len(value)} characters; at least "
                            f"{schema['minLength']} required")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise TextTooLong(f"{where} has {len(value)} characters; the limit is "
                              f"{schema['maxLength']}")
        if "pattern" in schema and not re.search(_python_pattern(schema["pattern"]), value):
            raise InvalidInput(f"{where} is {value[:40]!r}; expected text matching "
                               f"{schema['pattern']!r}")
        if schema.get("format") == "date" and not _is_date(value):
            raise InvalidInput(f"{where} is {value[:40]!r}; expected an ISO date YYYY-MM-DD")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise InvalidInput(f"{where} is {value}; the minimum is {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise InvalidInput(f"{where} is {value}; the maximum is {schema['maximum']}")
    elif isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise InvalidInput(f"{where} has {len(value)} items; at least "
                               f"{schema['minItems']} required")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise InvalidInput(f"{where} has {len(value)} items; the limit is "
                               f"{schema['maxItems']}")
        if "items" in schema:
            for i, item in enumerate(value):
                check(item, schema["items"], f"{where}[{i}]")
    elif isinstance(value, dict):
        for name in schema.get("required", ()):
            if name not in value:
                raise InvalidInput(f"{where} is missing the required field {name!r}")
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            unknown = sorted(set(value) - set(props))
            if unknown:
                raise InvalidInput(f"{where} has unknown field(s) {unknown}; expected some of "
                                   f"{sorted(props)}")
        if len(value) < schema.get("minProperties", 0):
            raise InvalidInput(f"{where} must have at least {schema['minProperties']} field(s)")
        for name, sub in props.items():
            if name in value:
                check(value[name], sub, f"{name}" if where == "body" else f"{where}.{name}")


def _python_pattern(pattern: str) -> str:
    # ECMA "$" is end of input; Python's also matches before a final newline.
    return pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern


def _is_date(text: str) -> bool:
    if not _DATE.match(text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _describe(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    if isinstance(value, str):
        return f"string {value[:20]!r}"
    return {"list": "array", "dict": "object"}.get(type(value).__name__, type(value).__name__)
