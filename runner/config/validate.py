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
        merged = OmegaConf.merge(OmegaConf.structured(schema), node)
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
