"""Request checking: the body is read, decoded, parsed and checked (by
``jsonschema``, draft 2020-12) against the same JSON Schema the OpenAPI document
publishes, so the document and the behaviour cannot drift apart.
"""
from __future__ import annotations

import json
import re

from jsonschema import Draft202012Validator, FormatChecker, validators

from hotline.http.errors import (MalformedJSON, NotUTF8, PayloadTooLarge,
                                UnsupportedMediaType, WrongType)
from foundation.errors import EmptyText, InvalidInput, TextTooLong



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
    raw = _read_body(request, max_bytes)
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


def _read_body(request, max_bytes: int) -> bytes:
    """At most ``max_bytes`` of body, or PayloadTooLarge.

    A body without Content-Length (``Transfer-Encoding: chunked``) is read from
    a stream that werkzeug limits to the request's ``max_content_length``; its
    ``read()``/``get_data()`` stop *silently* at that limit, so an oversized
    chunked body used to arrive cut and fail as ``malformed_json``. Here the
    limit is one byte above ``max_bytes`` and the body is read in bounded pieces
    up to ``max_bytes + 1``: a body that reaches that byte is too large, one of
    exactly ``max_bytes`` is not (the stream cannot tell "ends here" from "goes
    on" at its own limit). The rest of an oversized body is never read."""
    from werkzeug.exceptions import RequestEntityTooLarge

    request.max_content_length = max_bytes + 1   # before the stream is first built
    stream, parts, size = request.stream, [], 0
    try:
        while size <= max_bytes:
            part = stream.read(min(1 << 16, max_bytes + 1 - size))
            if not part:
                break
            parts.append(part)
            size += len(part)
    except RequestEntityTooLarge:   # the server's own limit, if any, was reached
        size = max_bytes + 1
    if size > max_bytes:
        length = request.content_length
        raise PayloadTooLarge(
            f"the body has more than {max_bytes} bytes; the limit is {max_bytes}"
            + ("" if length is not None else " (chunked body, no Content-Length)"))
    return b"".join(parts)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class Schema:
    """One request body schema of the OpenAPI document, checked by ``jsonschema``.

    Errors become the package's exceptions (so one handler maps them to 4xx
    codes), naming the first bad value found in document order."""

    def __init__(self, schema: dict):
        self.schema = schema
        self._validator = _Validator(_python_patterns(schema), format_checker=_FORMATS)

    def check(self, value) -> None:
        errors = list(self._validator.iter_errors(value))
        if errors:
            # The shallowest error first (a missing field before a bad nested
            # value), then the order of the body's own fields.
            raise _exception(min(errors, key=lambda e: (len(e.path), _position(value, e))))


def check(value, schema: dict) -> None:
    """Check ``value`` against ``schema`` (compiled per call; ``Schema`` keeps it)."""
    Schema(schema).check(value)


_FORMATS = FormatChecker(formats=("date",))
# JSON Schema counts 2.0 as an integer; a count or a page size given as 2.0 is a
# client mistake here, refused as before.
_Validator = validators.extend(Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER
                               .redefine("integer", lambda _, v: type(v) is int))


def _python_patterns(schema):
    """ECMA "$" is end of input; Python's also matches before a final newline."""
    if isinstance(schema, dict):
        out = {k: _python_patterns(v) for k, v in schema.items()}
        if isinstance(out.get("pattern"), str) and out["pattern"].endswith("$"):
            out["pattern"] = out["pattern"][:-1] + r"\Z"
        return out
    if isinstance(schema, list):
        return [_python_patterns(v) for v in schema]
    return schema


def _position(body, error) -> int:
    """Where the error's top-level field stands in the body (document order)."""
    if isinstance(body, dict) and error.path:
        keys = list(body)
        return keys.index(error.path[0]) if error.path[0] in keys else len(keys)
    return -1


def _where(error) -> str:
    where = "body"
    for part in error.path:
        where = (f"{where}[{part}]" if isinstance(part, int)
                 else part if where == "body" else f"{where}.{part}")
    return where


def _exception(error) -> InvalidInput:
    where, value, rule, limit = _where(error), error.instance, error.validator, error.validator_value
    if rule == "type":
        kinds = [limit] if isinstance(limit, str) else limit
        return WrongType(f"{where} must be {' or '.join(kinds)}, got {_describe(value)}")
    if rule == "enum":
        return InvalidInput(f"{where} is {value!r}; expected one of {limit}")
    if rule == "minLength":
        return EmptyText(f"{where} is empty" if not value else
                         f"{where} has {len(value)} characters; at least {limit} required")
    if rule == "maxLength":
        return TextTooLong(f"{where} has {len(value)} characters; the limit is {limit}")
    if rule == "pattern":
        if error.schema.get("description"):   # the rule in words, e.g. an entry id's
            bad = _refused_character(error.schema["pattern"], value)
            why = f" contains {bad!r} (U+{ord(bad):04X})" if bad else " is refused"
            return InvalidInput(f"{where} {value[:40]!r}{why}; {error.schema['description']}")
        pattern = error.schema["pattern"]   # shown as the document publishes it
        published = pattern[:-2] + "$" if pattern.endswith(r"\Z") else pattern
        return InvalidInput(f"{where} is {value[:40]!r}; expected text matching {published!r}")
    if rule == "format":
        return InvalidInput(f"{where} is {str(value)[:40]!r}; expected an ISO date YYYY-MM-DD")
    if rule in ("minimum", "maximum"):
        return InvalidInput(f"{where} is {value}; the {rule} is {limit}")
    if rule == "minItems":
        return InvalidInput(f"{where} has {len(value)} items; at least {limit} required")
    if rule == "maxItems":
        return InvalidInput(f"{where} has {len(value)} items; the limit is {limit}")
    if rule == "uniqueItems":
        seen, dup = set(), None
        for v in value:
            key = json.dumps(v, sort_keys=True)
            if key in seen:
                dup = v
                break
            seen.add(key)
        return InvalidInput(f"{where} lists {dup!r} more than once")
    if rule == "required":
        missing = next(n for n in limit if n not in value)
        return InvalidInput(f"{where} is missing the required field {missing!r}")
    if rule == "additionalProperties":
        unknown = sorted(set(value) - set(error.schema.get("properties", {})))
        return InvalidInput(f"{where} has unknown field(s) {unknown}; expected some of "
                            f"{sorted(error.schema.get('properties', {}))}")
    if rule == "minProperties":
        return InvalidInput(f"{where} must have at least {limit} field(s)")
    return InvalidInput(f"{where}: {error.message}")


def _refused_character(pattern: str, value: str) -> str | None:
    """For a pattern of the form ``^[^CLASS]+$``: the first character of ``value``
    in CLASS (the one that broke the rule), else None."""
    if not (pattern.startswith("^[^") and pattern.endswith(("]+$", "]+\\Z"))):
        return None
    found = re.search("[" + pattern[3:pattern.rindex("]") + 1], value)
    return found.group() if found else None


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
