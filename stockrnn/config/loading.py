"""A config from a TOML file (or the packaged defaults) plus `--set section.key=value` overrides,
validated into a Config; every failure becomes one ConfigError line that names the key."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from stockrnn.config.schema import Config
from stockrnn.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _nearest(location: tuple) -> str:
    """ " (did you mean model.hidden_size?)" for a mistyped key, or "" when nothing is close."""
    import difflib

    *sections, name = (str(part) for part in location)
    model: type[BaseModel] = Config
    for section in sections:
        field = model.model_fields.get(section)
        if (
            field is None
            or not isinstance(field.annotation, type)
            or not issubclass(field.annotation, BaseModel)
        ):
            return ""
        model = field.annotation
    close = difflib.get_close_matches(name, list(model.model_fields), n=1, cutoff=0.6)
    return f" (did you mean {'.'.join([*sections, close[0]])}?)" if close else ""


def default_toml() -> str:
    """The packaged defaults as commented TOML: configs/default.toml, shipped inside the wheel."""
    package = Path(__file__).parents[1]
    packaged = package / "default.toml"
    return (packaged if packaged.is_file() else package.parent / "configs" / "default.toml").read_text(
        encoding="utf-8"
    )


def _describe(error: dict) -> str:
    key = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"unknown key {key!r}{_nearest(error['loc'])}; `stockrnn config` prints every key"
    if "input" in error and not isinstance(error["input"], dict):
        return f"{key} = {error['input']!r}: {message}"
    return f"{key}: {message}" if key else message


def validate(raw: dict[str, Any], origin: str) -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{origin}: {_describe(first)}") from None


def _parse_value(text: str) -> Any:
    """A TOML value (`64`, `0.5`, `true`, `["AAPL", "KO"]`), else the text as a string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    key, sep, text = assignment.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) != 2 or not all(parts):
        raise ConfigError(
            f"--set {assignment!r} must look like section.key=value (e.g. model.hidden_size=32)"
        )
    section, name = parts
    target = raw.setdefault(section, {})
    if not isinstance(target, dict):
        raise ConfigError(f"--set {assignment!r}: {section!r} is not a section")
    target[name] = _parse_value(text.strip())


def load_config(
    path: Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    options: list[str] | tuple[str, ...] = (),
) -> Config:
    """Read `path` (or the packaged defaults), apply `section.key=value` overrides (--set) and then
    those of the command's own options (--horizon ...), validate. Errors say which were used."""
    raw: dict[str, Any] = {}
    origin = "defaults"
    if path is not None:
        path = Path(path)
        origin = str(path)
        if not path.is_file():
            from stockrnn.errors import MissingInputError

            raise MissingInputError(
                f"config file {path} does not exist; `stockrnn config > my.toml` writes the defaults to start from"
            )
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    for assignment in [*overrides, *options]:
        apply_override(raw, assignment)
    used = ["--set"] * bool(overrides) + ["the command's options"] * bool(options)
    if used:
        origin += " with " + " and ".join(used)
    return validate(raw, origin)


Overrides = Mapping[str, Any] | Iterable[str] | None


def _override_all(raw: dict[str, Any], overrides: Overrides) -> bool:
    """Apply `{"section.key": value}` (values as they are) or `["section.key=value", ...]` (values
    read as TOML); True when there was any."""
    if not overrides:
        return False
    if isinstance(overrides, Mapping):
        for key, value in overrides.items():
            apply_override(raw, f"{key}=0")  # checks the key's shape and the section
            section, name = key.strip().split(".")
            raw[section][name] = value
    else:
        if isinstance(overrides, str):
            overrides = [overrides]
        for assignment in overrides:
            apply_override(raw, assignment)
    return True


def config_from_dict(
    data: Mapping[str, Any], overrides: Overrides = None, origin: str = "config dict"
) -> Config:
    """A Config from nested sections (`{"model": {"cell": "lstm"}}`), validated like a TOML file."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{origin}: expected a dict of sections, got {type(data).__name__}")
    raw = {k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()}
    if _override_all(raw, overrides):
        origin += " with overrides"
    return validate(raw, origin)


# Keys whose default has changed, with the default before: a config saved before the change (a
# run's or a backtest's config.json) lacks the key, and its model was made with the earlier value.
EARLIER_DEFAULTS: dict[tuple[str, str], Any] = {("model", "positions"): "sinusoidal"}


def as_saved(config: Any) -> Any:
    """A saved config.json's sections, each key it lacks whose default has changed since given the
    default it was saved under (a Transformer run from before ALiBi keeps its sinusoidal positions).
    Anything but a mapping is returned as it is, for validation to name what is wrong with it."""
    if not isinstance(config, Mapping):
        return config
    upgraded = {k: dict(v) if isinstance(v, Mapping) else v for k, v in config.items()}
    for (section, key), earlier in EARLIER_DEFAULTS.items():
        if isinstance(upgraded.get(section), dict):
            upgraded[section].setdefault(key, earlier)
    return upgraded


def config_from_toml(path: Path | str | None = None, overrides: Overrides = None) -> Config:
    """A Config from a TOML file (None: the packaged defaults) and overrides as dict or strings."""
    if overrides is None or (not isinstance(overrides, Mapping) and not isinstance(overrides, str)):
        return load_config(None if path is None else Path(path), list(overrides or ()))
    base = load_config(None if path is None else Path(path))
    return config_from_dict(base.model_dump(mode="json"), overrides, str(path or "defaults"))
