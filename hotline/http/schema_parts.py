"""JSON Schema building blocks shared by the OpenAPI document's modules."""
from __future__ import annotations

S = {"type": "string"}
STRS = {"type": "array", "items": S}
NULLABLE_S = {"type": ["string", "null"]}
NUM = {"type": "number"}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: list[str], props: dict, extra: bool = False) -> dict:
    return {"type": "object", "required": required, "properties": props,
            "additionalProperties": extra}
