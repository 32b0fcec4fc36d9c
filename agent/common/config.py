"""Typed configuration from a TOML file plus environment overrides.

A configuration is a tree of frozen dataclasses. `load()` walks it, so every
key is checked against its declared type, unknown keys are errors (a typo
must not silently fall back to a default), and every error names the file,
the dotted key and what was expected:

    /etc/rdiag/agent.toml: spool.max_bytes: expected a size such as 64MiB, got 'lots'

Environment overrides use PREFIX + SECTION__KEY, e.g. RDIAG_AGENT_SPOOL__MAX_BYTES=64MiB;
an error in one names the variable:

    environment variable RDIAG_AGENT_SPOOL__MAX_BYTES: spool.max_bytes: expected a size ...
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class LogSection:
    """[log], the same for both programs."""

    level: str = "info"
    format: str = "text"  # text | json (JSON lines)

    def validate(self) -> tuple[str, str] | None:
        if self.level.lower() not in ("debug", "info", "warning", "error"):
            return "level", f"expected debug, info, warning or error, got {self.level!r}"
        if self.format not in ("text", "json"):
            return "format", f"expected text or json, got {self.format!r}"
        return None


class ConfigError(Exception):
    """A configuration problem, phrased for the operator (one line, no traceback)."""

    def __init__(self, where: str, key: str, problem: str) -> None:
        self.where = where
        self.key = key
        self.problem = problem
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


class ByteSize(int):
    """An integer number of bytes that may be written as '64MiB', '500 KB', '1G'."""


class Seconds(float):
    """A duration in seconds that may be written as '90s', '5m', '1h', '250ms', '30d'."""


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
}
_DURATION_UNITS = {"": 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def _parse_quantity(text: str, units: Mapping[str, float]) -> float | None:
    m = _QUANTITY.match(text)
    if not m or m.group(2).lower() not in units:
        return None
    return float(m.group(1)) * units[m.group(2).lower()]


def _describe(tp: Any) -> str:
    if tp is ByteSize:
        return "a size such as 64MiB"
    if tp is Seconds:
        return "a duration such as 60s or 5m"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if tp is Path:
        return "a path"
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        (inner, *_) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _describe(inner)
    if origin in (list, tuple):
        item = _describe(typing.get_args(tp)[0])
        return f"a list of {item.removeprefix('a ').removeprefix('an ')}s"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, from_env: bool) -> Any:
    """Return value converted to tp, or raise ValueError with what was expected."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or (from_env and value == ""):
            return None
        return _coerce(value, args[0], from_env)
    if tp is ByteSize:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return ByteSize(value)
        if isinstance(value, str):
            n = _parse_quantity(value, _SIZE_UNITS)
            if n is not None:
                return ByteSize(int(n))
        raise ValueError
    if tp is Seconds:
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return Seconds(value)
        if isinstance(value, str):
            n = _parse_quantity(value, _DURATION_UNITS)
            if n is not None:
                return Seconds(n)
        raise ValueError
    if tp is bool:
        if isinstance(value, bool):
            return value
        if (
            from_env
            and isinstance(value, str)
            and value.lower() in ("1", "true", "yes", "0", "false", "no")
        ):
            return value.lower() in ("1", "true", "yes")
        raise ValueError
    if tp is int:
        if from_env and isinstance(value, str):
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError
    if tp is float:
        if from_env and isinstance(value, str):
            value = float(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ValueError
    if tp is str:
        if isinstance(value, str):
            return value
        raise ValueError
    if tp is Path:
        if isinstance(value, str) and value:
            return Path(value).expanduser()
        raise ValueError
    if origin in (list, tuple):
        (item_tp, *_) = typing.get_args(tp)
        if from_env and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list):
            return tuple(_coerce(v, item_tp, from_env) for v in value)
        raise ValueError
    raise TypeError(f"unsupported config type {tp!r}")


def _build(
    cls: type[T], data: Mapping[str, Any], where: str, prefix: str, env_keys: Mapping[str, str]
) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            known = ", ".join(sorted(fields))
            dotted = prefix + key
            label = next(
                (v for k, v in env_keys.items() if k == dotted or k.startswith(dotted + ".")), None
            )
            src = label or where
            raise ConfigError(src, dotted, f"unknown key (known keys here: {known})")
    kwargs: dict[str, Any] = {}
    for name in fields:
        if name not in data:
            continue
        tp, value, dotted = hints[name], data[name], prefix + name
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, Mapping):
                raise ConfigError(
                    env_keys.get(dotted, where), dotted, f"expected a table [{dotted}]"
                )
            kwargs[name] = _build(tp, value, where, dotted + ".", env_keys)  # type: ignore[arg-type]
            continue
        from_env = dotted in env_keys
        src = env_keys.get(dotted, where)
        try:
            kwargs[name] = _coerce(value, tp, from_env)
        except (ValueError, TypeError):
            raise ConfigError(src, dotted, f"expected {_describe(tp)}, got {value!r}") from None
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if check is not None:
        problem = check()
        if problem:
            key, message = problem
            # Name where the offending value came from: a flag or a variable, not the file.
            raise ConfigError(env_keys.get(prefix + key, where), prefix + key, message)
    return obj


def _env_overrides(
    env_prefix: str, environ: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Nested dict of overrides from PREFIX + SECTION__KEY variables, and each key's variable."""
    out: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for var in sorted(environ):
        if not var.startswith(env_prefix):
            continue
        label = f"environment variable {var}"
        path = var[len(env_prefix) :].lower().split("__")
        dotted = ".".join(path)
        if not all(path):
            raise ConfigError(label, "", f"expected a name such as {env_prefix}SECTION__KEY")
        node = out
        for depth, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                other = ".".join(path[: depth + 1])
                raise ConfigError(label, dotted, f"conflicts with {labels[other]}")
            node = child
        if isinstance(node.get(path[-1]), dict):
            raise ConfigError(label, dotted, "conflicts with the variables for keys inside it")
        node[path[-1]] = environ[var]
        labels[dotted] = label
    return out, labels


def _dotted(tree: Mapping[str, Any], label: str, prefix: str = "") -> dict[str, str]:
    keys: dict[str, str] = {}
    for k, v in tree.items():
        if isinstance(v, Mapping):
            keys |= _dotted(v, label, f"{prefix}{k}.")
        else:
            keys[prefix + k] = label
    return keys


def _nest(dotted: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        node = out
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(base.get(k), Mapping):
            base[k] = _merge(dict(base[k]), v)
        else:
            base[k] = v
    return base


def load(
    cls: type[T],
    path: Path | None,
    *,
    env_prefix: str,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> T:
    """Build cls from the TOML file at path, then environment, then command-line overrides.

    overrides maps dotted keys ("collector.address") to text, parsed like environment values.
    """
    environ = os.environ if environ is None else environ
    where = str(path) if path else "configuration"
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(where, "", "file not found") from None
        except (PermissionError, IsADirectoryError) as exc:
            raise ConfigError(where, "", f"cannot read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(where, "", f"not valid TOML: {exc}") from None
    env, env_labels = _env_overrides(env_prefix, environ)
    flags = _nest(overrides or {})
    labels = env_labels | _dotted(flags, "command line")
    return _build(cls, _merge(_merge(data, env), flags), where, "", labels)


_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*(@)")


def mask_url_password(text: str) -> str:
    """'postgresql://u:pw@h/db' -> 'postgresql://u:***@h/db'."""
    return _URL_PASSWORD.sub(r"\1***\2", text)


SECRET_KEY = re.compile(r"(password|secret|token|passphrase|api_key|salt)", re.IGNORECASE)


def redacted(obj: Any) -> dict[str, Any]:
    """The config as a plain dict for display, with secret-looking values masked."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = redacted(value)
        elif SECRET_KEY.search(f.name) and value and not isinstance(value, bool):
            out[f.name] = "********"
        elif isinstance(value, str):
            out[f.name] = mask_url_password(value)
        elif isinstance(value, Path):
            out[f.name] = str(value)
        elif isinstance(value, tuple):
            out[f.name] = list(value)
        else:
            out[f.name] = value
    return out
