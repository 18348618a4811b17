"""Token planner throughput: 2,000 image files of assorted sizes, visual tokens at 4 thresholds from
their headers (issue 5 goal: >= 5,000 images/s), against fully decoding the same files in the same run.

The files (PNG and JPEG, sides 16..2400 px, log-uniform, seeded) are written once under
<OV_BENCH_CACHE>/bench/planner-images/.

Run: pytest tests/benchmarks/test_bench_token_planner.py --benchmark-enable --benchmark-only -s
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

N_IMAGES = 2000
THRESHOLDS = [729, 2916, 6561, None]
GOAL_IMAGES_PER_S = 5000


@pytest.fixture(scope="session")
def image_files() -> list[Path]:
    from PIL import Image

    from tasks.data import cache_root

    root = cache_root() / "bench" / f"planner-images-{N_IMAGES}"
    done = root / ".complete"
    if not done.exists():
        root.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        sides = np.exp(rng.uniform(np.log(16), np.log(2400), size=(N_IMAGES, 2))).astype(int)
        for i, (w, h) in enumerate(sides):
            colour = tuple(int(c) for c in rng.integers(0, 255, 3))
            img = Image.new("RGB", (int(w), int(h)), colour)
            img.paste((255 - colour[0], 0, 0), (0, 0, max(int(w) // 3, 1), max(int(h) // 3, 1)))
            img.save(root / f"{i:05d}.{'png' if i % 2 else 'jpg'}")
        done.touch()
    return sorted(p for p in root.iterdir() if p.suffix in (".png", ".jpg"))


def _full_decode(paths: list[Path]) -> list[tuple[int, int]]:
    from PIL import Image

    sizes = []
    for path in paths:
        with Image.open(path) as img:
            sizes.append(img.convert("RGB").size)  # decodes every pixel
    return sizes


def test_bench_planner_images_per_second(benchmark, image_files):
    from ov_bench.analysis.token_planner import _count, plan_image_files

    assert len(image_files) == N_IMAGES

    def planner():
        return plan_image_files(image_files, THRESHOLDS)

    counts = benchmark.pedantic(planner, setup=_count.cache_clear, rounds=5, iterations=1)
    planner_s = benchmark.stats.stats.min
    t0 = time.perf_counter()
    sizes = _full_decode(image_files)
    decode_s = time.perf_counter() - t0

    from reference_model import count_image_tokens

    assert counts[6561] == [count_image_tokens(w, h, max_grid_tokens=6561) for w, h in sizes]
    rate = N_IMAGES / planner_s
    benchmark.extra_info.update(
        {
            "images_per_s": rate,
            "full_decode_images_per_s": N_IMAGES / decode_s,
            "speedup_vs_full_decode": decode_s / planner_s,
        }
    )
    print(
        f"\nplanner: {rate:.0f} images/s (4 thresholds); full decode: {N_IMAGES / decode_s:.0f} images/s; "
        f"planner is {decode_s / planner_s:.1f}x faster"
    )
    assert rate >= GOAL_IMAGES_PER_S
