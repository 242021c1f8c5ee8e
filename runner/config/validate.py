"""Typed validation of one config group against the schema of the option it names.

Every option of a group (``optim/adam.yaml``, ``problem/rosenbrock.yaml``, ...) has a
dataclass schema.  After Hydra composes the config, :func:`validate_group` merges the
group's node into its schema: unknown keys and wrong types are reported with the key and
the allowed keys, then the schema's ``check()`` enforces value constraints.  Every failure
is a :class:`ConfigError` that names the full key, so the user sees one line.
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, Dict, Mapping

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError

from runner.errors import ConfigError


def allowed_keys(schema: type) -> list:
    return [f.name for f in dataclasses.fields(schema)]


def validate_group(group: str, node: Any, schemas: Mapping[str, type], kind: str = "") -> Any:
    """Return the schema instance (a dataclass object) for ``node``.

    ``group`` is the full key of the node (e.g. ``"optim"``), ``schemas`` maps the option
    name found in ``node.name`` to its dataclass.  Raises ConfigError naming the key.
    """
    kind = kind or group
    if not isinstance(node, (DictConfig, dict)):
        raise ConfigError(group, f"expected a {kind} config (a mapping), got {node!r}")
    name = node.get("name") if isinstance(node, dict) else OmegaConf.select(node, "name")
    if name not in schemas:
        raise ConfigError(f"{group}.name", f"unknown {kind} {name!r}; allowed: {', '.join(sorted(schemas))}")
    return validate_node(group, node, schemas[name], f"{kind} '{name}'")


def validate_node(key: str, node: Any, schema: type, what: str = "") -> Any:
    """Merge ``node`` (found at ``key``) into the dataclass ``schema`` and run its check().

    Returns the dataclass instance.  ``what`` names the thing in messages ("optimizer 'adam'").
    """
    what = what or key
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), integral_floats(node, schema))
        obj = OmegaConf.to_object(merged)
    except ConfigKeyError as e:
        bad = getattr(e, "full_key", None) or (e.key if getattr(e, "key", None) is not None else "?")
        inner, where = _nested_schema(schema, str(bad))
        raise ConfigError(f"{key}.{bad}", f"unknown key for {what}{where}; allowed: {', '.join(allowed_keys(inner))}") from None
    except ValidationError as e:
        bad = e.full_key or e.key or "?"
        raise ConfigError(f"{key}.{bad}", _type_message(e)) from None
    except OmegaConfBaseException as e:
        bad = getattr(e, "full_key", None) or "?"
        raise ConfigError(f"{key}.{bad}", str(e).splitlines()[0]) from None
    check = getattr(obj, "check", None)
    if check is not None:
        try:
            check()
        except ConfigError as e:
            raise ConfigError(f"{key}.{e.key}" if e.key else key, e.problem) from None
    return obj


def integral_floats(node: Any, schema: type) -> Any:
    """``node`` with whole-number floats made ints where ``schema`` wants an int
    (``integrator.n=2e9`` means 2000000000; OmegaConf alone refuses a float for an int field).
    Lists of ints and nested schemas are followed; anything else is left for the merge to judge."""
    if isinstance(node, DictConfig):
        try:
            node = OmegaConf.to_container(node, resolve=True)
        except OmegaConfBaseException:
            return node
    if not isinstance(node, dict) or not dataclasses.is_dataclass(schema):
        return node
    try:
        hints = typing.get_type_hints(schema)
    except Exception:   # an annotation that cannot be resolved: leave the node to the merge
        return node
    return {k: _as_hinted(v, hints.get(k)) for k, v in node.items()}


def _as_hinted(value: Any, hint: Any) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is typing.Union and len(args) == 1:   # Optional[X]
        hint = args[0]
    if hint is int and isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 63:
        return int(value)
    if typing.get_origin(hint) in (list, typing.List) and isinstance(value, list):
        inner = (typing.get_args(hint) or (None,))[0]
        return [_as_hinted(v, inner) for v in value]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return integral_floats(value, hint)
    return value


def _nested_schema(schema: type, full_key: str):
    """The dataclass that holds the last part of a dotted key (``data.sorce`` -> DataConfig)."""
    where = ""
    for part in full_key.split(".")[:-1]:
        try:
            inner = typing.get_type_hints(schema).get(part)
        except Exception:   # an annotation that cannot be resolved: fall back to the outer schema
            break
        if not (isinstance(inner, type) and dataclasses.is_dataclass(inner)):
            break
        schema, where = inner, f"{where}.{part}" if where else f" ({part}"
    return schema, (where + ")") if where else ""


def _type_message(e: ValidationError) -> str:
    first = str(e).splitlines()[0]
    # OmegaConf says e.g. "Value 'abc' of type 'str' could not be converted to Float"
    return first.rstrip(".")


# ---- small value checks shared by every schema's check() -------------------------------

def positive(key: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(key, f"must be > 0, got {value!r}")


def non_negative(key: str, value: float) -> None:
    if not value >= 0:
        raise ConfigError(key, f"must be >= 0, got {value!r}")


def in_range(key: str, value: float, lo: float, hi: float, lo_open=False, hi_open=True) -> None:
    ok_lo = value > lo if lo_open else value >= lo
    ok_hi = value < hi if hi_open else value <= hi
    if not (ok_lo and ok_hi):
        lb = "(" if lo_open else "["
        rb = ")" if hi_open else "]"
        raise ConfigError(key, f"must be in {lb}{lo}, {hi}{rb}, got {value!r}")


def one_of(key: str, value: Any, allowed) -> None:
    if value not in allowed:
        raise ConfigError(key, f"must be one of {', '.join(map(str, allowed))}; got {value!r}")


def as_dict(obj: Any) -> Dict[str, Any]:
    return dataclasses.asdict(obj)
