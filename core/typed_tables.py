"""Typed dataclasses from TOML tables: unknown keys and values of the wrong type are
refused with an error naming the field. Scenarios and target descriptions both load
through it, so their files are checked by the same rules."""

from __future__ import annotations

import dataclasses
import tomllib
import types
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


class TableError(ValueError):
    """A table is invalid; the message names the field."""


def read_toml(path: Path, error: type[TableError]) -> dict[str, Any]:
    """The file's tables; an unreadable or malformed file is `error`, naming the file."""
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise error(f"{path}: {exc}") from None


def positive(name: str, value: float) -> None:
    if not value > 0:
        raise TableError(f"{name} must be positive, got {value!r}")


def build(cls: type[T], data: Any, where: str, what: str) -> T:
    """A dataclass from nested dicts; `what` names the whole file's kind in messages."""
    if not isinstance(data, Mapping):
        raise TableError(f"{where or what} must be a table")
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise TableError(f"unknown field(s) in {where or what}: {', '.join(sorted(unknown))}")
    values = {name: _value(hints[name], data[name], f"{where}.{name}".lstrip("."), what) for name in data}
    return cls(**values)


def _value(hint: Any, value: Any, where: str, what: str) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):  # `X | None`: TOML has no null, so a given value is an X
        (inner,) = [arg for arg in get_args(hint) if arg is not type(None)]
        return _value(inner, value, where, what)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return build(hint, value, where, what)
    if origin is tuple:
        item = get_args(hint)[0]
        if not isinstance(value, list | tuple):
            raise TableError(f"{where} must be a list")
        return tuple(_value(item, v, f"{where}[{i}]", what) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise TableError(f"{where} must be a table")
        return {str(k): _value(get_args(hint)[1], v, f"{where}.{k}", what) for k, v in value.items()}
    if origin is Literal:
        if value not in get_args(hint):
            raise TableError(f"{where} must be one of {', '.join(map(str, get_args(hint)))}, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise TableError(f"{where} must be true or false")
        return value
    if hint in (int, float):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (hint is int and not isinstance(value, int))
        ):
            raise TableError(f"{where} must be {'an integer' if hint is int else 'a number'}, got {value!r}")
        return hint(value)
    if hint is str:
        if not isinstance(value, str):
            raise TableError(f"{where} must be a string")
        return value
    raise TableError(f"{where}: unsupported field type {hint!r}")
