"""One line for any error a user's input causes: a ConfigError, or one of Hydra's or OmegaConf's.

Each kind of error is recognised by its type and described from its attributes; only the first
line of a library's own message is kept, so the detail lines they append never reach the user.
"""

from __future__ import annotations

from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf.errors import InterpolationResolutionError, OmegaConfBaseException

from core.errors import ConfigError

USER_ERRORS = (ConfigError, HydraException, OmegaConfBaseException)

# The tuned and published controller presets that became experiments, so that each also sets
# the space, evaluator, reward and budget.batch it was tuned or published with:
# old spelling → (new spelling, what the experiment sets).
_TUNED = "the controller, the space, the evaluator and budget.batch it was tuned with"
RENAMED: dict[str, tuple[str, str]] = {
    "controller=lstm_nb201": ("experiment=lstm_nb201", _TUNED),
    "controller=softmax_nb201": ("experiment=softmax_nb201", _TUNED),
    "controller=evolution_nb201": ("experiment=evolution_nb201", _TUNED),
    "controller=ppo": ("experiment=ppo", _TUNED),
    "controller=evolution_paper": (
        "experiment=evolution_paper",
        "the controller, the space, the evaluator and budget.batch of the NAS-Bench-201 paper",
    ),
    "controller=enas": (
        "experiment=enas",
        "ENAS's controller, its evaluator=shared and its budget.batch",
    ),
    "controller=zoph": ("experiment=zoph", "Zoph & Le's controller and their reward=zoph"),
}


def describe(err: BaseException) -> str:
    """One line for `err`, e.g. "controller.lrr: Key 'lrr' not in 'LSTMControllerConfig'"."""
    if isinstance(err, ConfigError):
        return _first_line(str(err))
    if isinstance(err, MissingConfigException) and err.missing_cfg_file and err.options:
        group, _, option = err.missing_cfg_file.rpartition("/")
        known = ", ".join(err.options)
        return renamed(err) or f"{group}={option} is unknown: expected one of {known}"
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


def describe_os_error(err: OSError) -> str:
    """One line naming the path of a file-system error and its reason."""
    path = f"{err.filename} -> {err.filename2}" if err.filename2 else str(err.filename)
    return f"{path}: {err.strerror or err}"


def renamed(err: MissingConfigException) -> str | None:
    """For a preset that became an experiment (RENAMED), one line naming its new spelling."""
    group, _, option = (err.missing_cfg_file or "").rpartition("/")
    old = f"{group.strip('/')}={option}"
    if old not in RENAMED:
        return None
    new, sets = RENAMED[old]
    return f"{old} is now an experiment: use {new} (it sets {sets})"


def describe_under(err: OmegaConfBaseException, key: str) -> str:
    """One line for an OmegaConf error met while merging the top-level `key` of a config."""
    full_key = str(getattr(err, "full_key", "") or "")
    path = full_key if full_key == key or full_key.startswith(f"{key}.") else f"{key}.{full_key}"
    text = _first_line(getattr(err, "msg", None) or str(err))
    return f"{path.rstrip('.')}: {text}"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].rstrip(".") if text.strip() else ""
