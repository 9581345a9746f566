"""Search spaces, one folder each; `registry` finds them and builds what they declare."""

from child.spaces.registry import (
    SPACES,
    SpaceConfig,
    SpaceDef,
    build_network,
    build_space,
    bundled_table,
    draw_architecture,
    format_arch,
    param_free_share,
    space_config,
    space_def,
)

__all__ = [
    "SPACES",
    "SpaceConfig",
    "SpaceDef",
    "build_network",
    "build_space",
    "bundled_table",
    "draw_architecture",
    "format_arch",
    "param_free_share",
    "space_config",
    "space_def",
]
