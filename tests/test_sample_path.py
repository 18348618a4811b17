"""engine/sample.py, the one per-sample path, with a scripted adapter whose stage spans are fixed numbers:
the row's stages against arithmetic on those numbers (ttft, decode per token, the shared encoder's
stages in a sweep's row), the batch fallback, scoring and the visual-token check."""

from __future__ import annotations

import pytest

from ov_bench.adapters.base import EncodeOnce, Generation, ModelAdapter, Prepared
from ov_bench.engine.sample import Measure, RowIdentity, Sample, encode, run_model
from ov_bench.profiling import MemoryTracker

MS = 1_000_000  # StageTimer marks are perf_counter_ns values on CPU


class ScriptedAdapter(ModelAdapter, EncodeOnce):
    kind, model_id, max_batch_size = "scripted", "scripted", 8

    def __init__(self, fail_batch: bool = False) -> None:
        self.fail_batch, self.calls = fail_batch, []

    @property
    def threshold(self):
        return None

    def set_threshold(self, tau):
        pass

    def prepare(self, question, images, video):
        return Prepared({}, question, visual_tokens_counted=10)

    @staticmethod
    def _spans(timer) -> None:  # one model call: prefill 4 ms, first token at 5 ms, decode 6 ms
        timer.add_span("prefill", 0, 4 * MS)
        timer.add_span("ttft", 0, 5 * MS)
        timer.add_span("decode", 0, 6 * MS)

    def _gen(self, prepared: Prepared, timer, new_tokens: int = 4) -> Generation:
        return Generation(
            f"  answer to {prepared.prompt} ", new_tokens, visual_positions=10, prompt_tokens=30
        )

    def generate(self, prepared, max_new_tokens, timer):
        self.calls.append(1)
        self._spans(timer)
        return self._gen(prepared, timer)

    def generate_batch(self, prepared, max_new_tokens, timer):
        if self.fail_batch:
            raise RuntimeError("out of memory")
        self.calls.append(len(prepared))
        self._spans(timer)  # the batch's spans, once
        return [self._gen(p, timer, new_tokens=4 + i) for i, p in enumerate(prepared)]

    def encode_once(self):
        return self

    def encode(self, prepared, timer):
        timer.add_span("vision_encoder", 0, 3 * MS)
        timer.add_span("projector_packing", 0, 1 * MS)
        return "features"

    def at_threshold(self, prepared, threshold):
        return prepared

    def layout(self, prepared, threshold):
        return ()

    def generate_encoded(self, prepared, features, max_new_tokens, timer):
        assert features == "features"
        timer.add_span("projector_packing", 0, MS // 2)  # packing at this threshold
        self._spans(timer)
        return self._gen(prepared, timer)


class ScoringTask:
    def score(self, doc, response):
        return {"score": float(response == f"answer to {doc['q']}"), "parsed": response[-1]}


def _sample(i: int, adapter: ModelAdapter) -> Sample:
    s = Sample(
        "t", ScoringTask(), {"q": f"q{i}"}, f"d{i}", i, None, 8, media_decode_ms=2.0, preprocess_ms=3.0
    )
    s.prepared = adapter.prepare(f"q{i}", [], None)
    return s


IDENTITY = RowIdentity("scripted:x@float32", "none", "samples")


@pytest.fixture
def measure():
    return Measure(True, MemoryTracker("cpu"))


def test_one_sample_stages_and_score(measure):
    adapter = ScriptedAdapter()
    (row,) = run_model(adapter, [_sample(0, adapter)], IDENTITY, measure)
    lat = row.latency_ms
    assert (lat["prefill"], lat["ttft"], lat["decode"]) == (4.0, 5.0, 6.0)
    assert lat["decode_per_token"] == 6.0 / (4 - 1)  # decode steps after the first token
    assert lat["end_to_end"] >= 2.0 + 3.0 and lat["media_decode"] == 2.0 and lat["preprocess"] == 3.0
    assert row.response == "answer to q0" and row.score == 1.0 and row.error is None
    assert (row.new_tokens, row.prompt_tokens, row.visual_tokens_measured, row.text_tokens) == (4, 30, 10, 20)
    assert row.batch_size == 1 and row.peak_memory_bytes is not None


def test_batch_rows_share_the_batch_stages_and_a_failed_batch_runs_one_at_a_time(measure):
    adapter = ScriptedAdapter()
    rows = run_model(adapter, [_sample(i, adapter) for i in range(3)], IDENTITY, measure)
    assert adapter.calls == [3] and [r.batch_size for r in rows] == [3, 3, 3]
    assert all(r.latency_ms["decode_per_token"] == 6.0 / (6 - 1) for r in rows)  # longest row: 4 + 2 tokens
    assert [r.new_tokens for r in rows] == [4, 5, 6]
    failing = ScriptedAdapter(fail_batch=True)
    rows = run_model(failing, [_sample(i, failing) for i in range(3)], IDENTITY, measure)
    assert failing.calls == [1, 1, 1] and [r.batch_size for r in rows] == [1, 1, 1]
    assert all(r.error is None and r.score == 1.0 for r in rows)


def test_encoded_row_carries_the_shared_encoder_stages(measure):
    adapter = ScriptedAdapter()
    sample = _sample(0, adapter)
    encoded = encode(adapter, sample, measure)
    (row,) = run_model(adapter, [sample], IDENTITY, measure, encoded=encoded)
    lat = row.latency_ms
    assert lat["vision_encoder"] == 3.0 and lat["projector_packing"] == 1.0 + 0.5
    assert lat["ttft"] == 5.0 + 3.0 + 1.0  # the first token waited for the encoder too
    assert lat["end_to_end"] >= 2.0 + 3.0 + encoded.ms and row.score == 1.0


def test_counted_and_measured_visual_tokens_must_agree(measure):
    adapter = ScriptedAdapter()
    sample = _sample(0, adapter)
    sample.prepared.visual_tokens_counted = 11
    (row,) = run_model(adapter, [sample], IDENTITY, measure)
    assert row.error == "visual_tokens: analytic count 11 != measured 10"


def test_an_adapter_without_the_capability_is_refused_by_encode(measure):
    class Plain(ScriptedAdapter):
        def encode_once(self):
            return None

    adapter = Plain()
    with pytest.raises(TypeError, match="cannot encode visuals once"):
        encode(adapter, _sample(0, adapter), measure)
