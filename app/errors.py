"""One line for any error a user's input causes: a ConfigError, or one of Hydra's or OmegaConf's.

Each kind of error is recognised by its type and described from its attributes; only the first
line of a library's own message is kept, so the detail lines they append never reach the user.
"""

from __future__ import annotations

from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf.errors import InterpolationResolutionError, OmegaConfBaseException

from core.errors import ConfigError

USER_ERRORS = (ConfigError, HydraException, OmegaConfBaseException)


def describe(err: BaseException) -> str:
    """One line for `err`, e.g. "controller.lrr: Key 'lrr' not in 'LSTMControllerConfig'"."""
    if isinstance(err, ConfigError):
        return _first_line(str(err))
    if isinstance(err, MissingConfigException) and err.missing_cfg_file and err.options:
        group, _, option = err.missing_cfg_file.rpartition("/")
        return f"{group}={option} is unknown: expected one of {', '.join(err.options)}"
    if isinstance(err, OverrideParseException):
        # Its message: a headline, the parser's complaint, then a link to the grammar.
        lines = [line.strip() for line in err.message.splitlines() if line.strip()]
        return ": ".join(lines[:2]) if lines else f"cannot parse the override {err.override!r}"
    if isinstance(err, InterpolationResolutionError) and isinstance(err.__cause__, ConfigError):
        return describe(err.__cause__)  # a resolver of ours refused a value
    if isinstance(err, OmegaConfBaseException):
        key = getattr(err, "full_key", None)
        text = _first_line(getattr(err, "msg", None) or str(err))
        return f"{key}: {text}" if key else text
    if isinstance(err, HydraException) and isinstance(err.__cause__, OmegaConfBaseException):
        return describe(err.__cause__)  # e.g. an override of a key the schema lacks
    return _first_line(str(err)) or type(err).__name__


def describe_under(err: OmegaConfBaseException, key: str) -> str:
    """One line for an OmegaConf error met while merging the top-level `key` of a config."""
    full_key = str(getattr(err, "full_key", "") or "")
    path = full_key if full_key == key or full_key.startswith(f"{key}.") else f"{key}.{full_key}"
    text = _first_line(getattr(err, "msg", None) or str(err))
    return f"{path.rstrip('.')}: {text}"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].rstrip(".") if text.strip() else ""
