"""Plain JSON values from the library's result objects."""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from typing import Any, Mapping


@functools.lru_cache(maxsize=None)
def _dataclass_fields(cls: type) -> tuple[str, ...] | None:
    # Per class, once: dataclasses.fields() rebuilt the tuple for every hit of every response.
    return tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else None


_PLAIN = frozenset({str, bool, int, type(None)})


def jsonable(obj: Any) -> Any:
    """Plain JSON values from dataclasses, numpy scalars/arrays, tuples and dates."""
    # Exact built-in types first: a response holds ~170 values, and the ABC test
    # (isinstance(obj, Mapping)) below cost more than the copying.
    t = type(obj)
    if t in _PLAIN:
        return obj
    if t is dict:
        return {str(k): jsonable(v) for k, v in obj.items()}
    if t is list or t is tuple:
        return [jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (str, bool, int)):
        return obj
    if isinstance(obj, float):
        return obj if obj == obj and abs(obj) != float("inf") else None
    names = _dataclass_fields(type(obj))
    if names is not None:
        return {name: jsonable(getattr(obj, name)) for name in names}
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if hasattr(obj, "_asdict"):  # NamedTuple
        return jsonable(obj._asdict())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (dt.date, dt.datetime)):
        return obj.isoformat()
    if hasattr(obj, "tolist"):  # numpy scalar or array
        return jsonable(obj.tolist())
    if hasattr(obj, "to_dict"):
        return jsonable(obj.to_dict())
    return str(obj)
