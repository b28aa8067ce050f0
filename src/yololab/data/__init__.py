"""Data yololab generates itself: the synthetic world (a YOLO detection dataset and MOTChallenge-layout sequences)."""

from yololab.data.synthetic import (
    CLASS_NAMES,
    SyntheticWorld,
    SyntheticWorldConfig,
    ensure_world,
    generate_world,
    iter_sequence,
    load_world,
)

__all__ = [
    "CLASS_NAMES",
    "SyntheticWorld",
    "SyntheticWorldConfig",
    "ensure_world",
    "generate_world",
    "iter_sequence",
    "load_world",
]
