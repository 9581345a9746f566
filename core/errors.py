"""The error type for bad user input, and the one check that raises it."""

from __future__ import annotations


class ConfigError(ValueError):
    """A config value is wrong; the message names the key, the value and what was expected."""


def invalid(key: str, value: object, expected: str) -> ConfigError:
    """The `ConfigError` naming `key`, `value` and what was `expected`, to raise."""
    return ConfigError(f"{key}={value!r} is invalid: expected {expected}")


def require(condition: bool, key: str, value: object, expected: str) -> None:
    """Raise `ConfigError` naming `key`, `value` and `expected` unless `condition` holds."""
    if not condition:
        raise invalid(key, value, expected)
