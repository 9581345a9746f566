"""The error type for bad user input, and the one-line form the CLI prints errors in."""

from __future__ import annotations


class ConfigError(ValueError):
    """A config value is wrong; the message names the key, the value and what was expected."""


def require(condition: bool, key: str, value: object, expected: str) -> None:
    """Raise `ConfigError` naming `key`, `value` and `expected` unless `condition` holds."""
    if not condition:
        raise ConfigError(f"{key}={value!r} is invalid: expected {expected}")


def describe(err: BaseException) -> str:
    """One line for an error and its causes, e.g. "Could not override 'x': Key 'x' not in 'Y'"."""
    parts: list[str] = []
    while err is not None:
        text = _fold(str(err)).rstrip(".")
        if text and not any(text in part for part in parts):
            parts.append(text)
        err = err.__cause__ or (err.__context__ if not err.__suppress_context__ else None)
    return ": ".join(p.rstrip(".") for p in parts) or "unknown error"


def _fold(message: str) -> str:
    """Fold a multi-line Hydra/OmegaConf message; keep the gist, list options on one line."""
    lines = [line.strip() for line in message.splitlines()]
    head: list[str] = []
    options: list[str] = []
    in_options = False
    for line in lines:
        if line.startswith(
            (
                "Config search path",
                "provider=",
                "full_key:",
                "object_type=",
                "reference_type=",
                "To append to your config",
            )
        ):
            in_options = False
            continue
        if line.startswith("Available options"):
            in_options = True
            continue
        if not line:
            continue
        (options if in_options else head).append(line)
    text = "; ".join(h.rstrip(".") for h in head)
    return f"{text} (available: {', '.join(options)})" if options else text
