"""Peak memory of a `--limit 20` load vs loading the whole split (issue 11, item 7).

The split: a DocVQA-layout repo copy (README configs, DocVQA/validation-*.parquet in the hub schema)
of 640 rows whose image cells hold ~450 KB of incompressible PNG each: ~290 MB of parquet, written
once under <OV_BENCH_CACHE>/bench/. Each side runs `get_task("docvqa").load(DIR[, limit=20])` in a
fresh subprocess and reports its own peak RSS (VmHWM of /proc/self/status); the
datasets Arrow cache is built by a warm-up subprocess first, so neither side pays for it.

Run: pytest tests/benchmarks/test_bench_limited_load.py --benchmark-enable --benchmark-only -s
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROWS, SIDE, LIMIT = 640, 390, 20
MAX_RATIO = 0.5

# Peak RSS from /proc/self/status VmHWM, the high-water mark of this process's own address space:
# ru_maxrss is carried over fork + exec, so a child would report at least its parent's RSS.
CHILD = """
import json, re, sys, time
from tasks import get_task
t0 = time.perf_counter()
docs = get_task("docvqa").load(sys.argv[1], limit=None if sys.argv[2] == "all" else int(sys.argv[2]))
cells = sum(len(d["image"]["bytes"]) for d in docs)
hwm = int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
print(json.dumps({"docs": len(docs), "image_bytes": cells, "seconds": time.perf_counter() - t0, "peak_rss_kb": hwm}))
"""


def _write_split(task_dir: Path) -> None:
    import io

    import datasets
    import numpy as np
    from PIL import Image

    from tasks import get_task
    from tasks.hub_layout import write_readme

    rng = np.random.default_rng(0)
    images = []
    for _ in range(16):  # 16 distinct noise images, reused: parquet stores each cell's bytes anyway
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (SIDE, SIDE, 3), dtype=np.uint8)).save(
            buf, format="PNG", compress_level=1
        )
        images.append(buf.getvalue())
    rows = [
        {
            "questionId": str(60000 + i),
            "question": f"What is written in box {i}?",
            "question_types": [("form", "layout", "table/list")[i % 3]],
            "image": {"bytes": images[i % 16] + bytes([i % 251]), "path": f"doc_{i}.png"},
            "docId": 2000 + i // 3,
            "ucsf_document_id": f"{10000000 + i}",
            "ucsf_document_page_no": "1",
            "answers": [str(i)],
            "data_split": "val",
        }
        for i in range(ROWS)
    ]
    features = datasets.Features(
        {
            "questionId": datasets.Value("string"),
            "question": datasets.Value("string"),
            "question_types": datasets.Sequence(datasets.Value("string")),
            "image": datasets.Image(),
            "docId": datasets.Value("int64"),
            "ucsf_document_id": datasets.Value("string"),
            "ucsf_document_page_no": datasets.Value("string"),
            "answers": datasets.Sequence(datasets.Value("string")),
            "data_split": datasets.Value("string"),
        }
    )
    tmp = task_dir.with_name(task_dir.name + ".tmp")
    (tmp / "DocVQA").mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_list(rows, features=features).to_parquet(
        str(tmp / "DocVQA" / "validation-00000-of-00001.parquet")
    )
    write_readme(get_task("docvqa"), tmp, note="ov-bench memory benchmark")
    tmp.rename(task_dir)


@pytest.fixture(scope="session")
def big_split() -> Path:
    from tasks.data import cache_root

    root = cache_root() / "bench" / f"docvqa_{ROWS}x{SIDE}_v1"
    if not (root / "docvqa").is_dir():
        root.mkdir(parents=True, exist_ok=True)
        _write_split(root / "docvqa")
    return root


def _child(root: Path, limit: str, hf_home: Path) -> dict:
    env = dict(os.environ, HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), limit],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_limited_load_peak_rss_vs_full_split(benchmark, big_split, tmp_path_factory):
    hf_home = tmp_path_factory.mktemp("bench-hf")
    parquet_bytes = sum(p.stat().st_size for p in big_split.rglob("*.parquet"))
    _child(big_split, str(LIMIT), hf_home)  # warm-up: datasets builds its Arrow cache once
    limited = benchmark.pedantic(_child, args=(big_split, str(LIMIT), hf_home), rounds=1, iterations=1)
    full = _child(big_split, "all", hf_home)
    ratio = limited["peak_rss_kb"] / full["peak_rss_kb"]
    benchmark.extra_info.update(
        parquet_mb=parquet_bytes / 1e6,
        limited_peak_rss_mb=limited["peak_rss_kb"] / 1024,
        full_peak_rss_mb=full["peak_rss_kb"] / 1024,
        ratio=ratio,
    )
    print(
        f"\nsplit {parquet_bytes / 1e6:.0f} MB parquet; --limit {LIMIT}: peak RSS {limited['peak_rss_kb'] / 1024:.0f} MiB "
        f"({limited['image_bytes'] / 1e6:.1f} MB of image cells); whole split: {full['peak_rss_kb'] / 1024:.0f} MiB "
        f"({full['image_bytes'] / 1e6:.0f} MB); ratio {ratio:.3f}"
    )
    assert limited["docs"] == LIMIT and full["docs"] == ROWS
    assert ratio < MAX_RATIO
