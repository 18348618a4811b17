"""``ov-bench tokens`` throughput with exact Qwen2 text-token counts, against the previous
characters / 4 estimate, in the same run: mmmu sample docs (image headers in parquet cells, the
real task's prompts) repeated to 2,048 docs, each question made unique, planned at 4 thresholds for the 3 architectures.

The previous path is reproduced here as the baseline (the same loop as ``doc_shapes`` with
``ceil(len(prompt) / 4)``); the tokenizer's one-time load is measured apart (cached tokenizer.json).

Run: pytest tests/benchmarks/test_bench_tokens.py --benchmark-enable --benchmark-only -s
"""

from __future__ import annotations

import math
import time

import pytest

N_DOCS = 2048
THRESHOLDS = [729, 2916, 6561, None]


@pytest.fixture(scope="module")
def task_docs():
    from tasks import get_task

    task = get_task("mmmu")
    docs = task.load(data="samples")
    # Every question made unique (as in a real benchmark), so no count is shared across docs.
    return task, [
        {**docs[i % len(docs)], "question": f"{docs[i % len(docs)]['question']} (#{i})"}
        for i in range(N_DOCS)
    ]


def _previous_doc_shapes(task, docs):
    """doc_shapes as it was: header sizes, the chat prompt, characters / 4."""
    from ov_bench.analysis.token_planner import DocShape
    from reference_model.processor import build_prompt

    shapes = []
    for doc in docs:
        sizes = [tuple(s) for s in task.image_sizes(doc)]
        prompt = build_prompt(task.doc_to_text(doc), num_images=len(sizes))
        shapes.append(DocShape(str(task.doc_id(doc)), sizes, False, math.ceil(len(prompt) / 4)))
    return shapes


def _plan(task, shapes):
    from ov_bench.analysis.token_planner import ARCHS, Architecture, plan_shapes

    return plan_shapes(
        task.name, task.modality, shapes, THRESHOLDS, [32], [Architecture.from_preset(a) for a in ARCHS]
    )


def test_bench_tokens_exact_vs_estimate(benchmark, task_docs):
    from ov_bench.analysis.token_planner import _count, doc_shapes
    from reference_model.qwen2_tokenizer import _LOADED, load_qwen2_backend

    task, docs = task_docs
    n_images = sum(len(task.image_sizes(d)) for d in docs)
    load_qwen2_backend()  # make sure the cache file exists before timing its load
    _LOADED.clear()
    t0 = time.perf_counter()
    load_qwen2_backend()
    load_s = time.perf_counter() - t0

    def exact():
        return _plan(task, doc_shapes(task, docs))

    rows = benchmark.pedantic(exact, setup=_count.cache_clear, rounds=5, iterations=1)
    exact_s = benchmark.stats.stats.min
    previous = []
    for _ in range(5):
        _count.cache_clear()
        t0 = time.perf_counter()
        old_rows = _plan(task, _previous_doc_shapes(task, docs))
        previous.append(time.perf_counter() - t0)
    previous_s = min(previous)

    assert [r.visual_tokens for r in rows] == [
        r.visual_tokens for r in old_rows
    ]  # only the text count changed
    exact_mean, old_mean = rows[0].text_tokens_mean, old_rows[0].text_tokens_mean
    benchmark.extra_info.update(
        {
            "images_per_s_exact": n_images / exact_s,
            "images_per_s_chars_over_4": n_images / previous_s,
            "ratio_exact_over_previous_time": exact_s / previous_s,
            "tokenizer_load_s": load_s,
            "text_tokens_mean_exact": exact_mean,
            "text_tokens_mean_chars_over_4": old_mean,
        }
    )
    print(
        f"\n{n_images} images / {N_DOCS} docs, 4 thresholds x 3 archs: exact text tokens {n_images / exact_s:.0f} "
        f"images/s, chars/4 estimate {n_images / previous_s:.0f} images/s (time ratio {exact_s / previous_s:.2f}); "
        f"tokenizer load {load_s:.2f} s once; mean text tokens exact {exact_mean:.1f} vs estimate {old_mean:.1f}"
    )
