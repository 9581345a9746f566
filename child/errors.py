"""The error type for bad user input: the CLI prints it as one line, without a traceback."""


class ConfigError(ValueError):
    """A config value is wrong; the message names the key, the value and what was expected."""


def require(condition: bool, key: str, value: object, expected: str) -> None:
    """Raise `ConfigError` naming `key`, `value` and `expected` unless `condition` holds."""
    if not condition:
        raise ConfigError(f"{key}={value!r} is invalid: expected {expected}")
