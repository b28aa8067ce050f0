"""How fast the synthetic world renders: 1,000 frames (160x160; 800 train + 200 val/MOT), whole function.

Run: ``.venv/bin/python benchmarks/synthetic_speed.py`` (writes into a temporary folder and removes it).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from yololab.data.synthetic import SyntheticWorldConfig, generate_world


def main() -> None:
    """Generate the world three times and print the best and median frames per second."""
    config = SyntheticWorldConfig(seed=0, sequences=10, frames=100, val_frames=None, val_fraction=0.2)
    times = []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            world = generate_world(Path(tmp) / "world", config)
            times.append(time.perf_counter() - start)
    assert world.num_frames == 1000
    times.sort()
    print(f"1,000 frames: best {times[0]:.2f} s ({1000 / times[0]:.0f} frames/s), median {times[1]:.2f} s")


if __name__ == "__main__":
    main()
