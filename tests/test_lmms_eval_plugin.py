"""ov-bench's reference model as an lmms-eval model (ov_bench/integrations/lmms_eval_model.py).

Unit tests drive the model class with lmms-eval ``Instance`` objects as lmms-eval builds them; the
end-to-end test runs lmms-eval's own evaluator next to ``ov-bench run`` on the same docs.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.lmms_requests import lmms_request

MODEL = "ov_bench_reference"
TAU = 729  # a small AnyRes threshold: fewer visual tokens (fast), and checks that tau reaches the model
FRAMES = 4
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sample sets for mmmu and videomme in an isolated OV_BENCH_CACHE; returns the samples root."""
    root = tmp_path_factory.mktemp("ovb-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OV_BENCH_CACHE", str(root))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        from tasks import get_task

        for name in ("mmmu", "videomme"):
            get_task(name).load(data="samples")
        yield root / "samples"


@pytest.fixture(scope="module")
def model():
    from ov_bench.integrations.lmms_eval_model import OvBenchReference

    return OvBenchReference(pretrained="tiny", max_grid_tokens=TAU, frames=FRAMES)


def _images():
    from PIL import Image

    return [
        Image.new("RGB", (640, 480), (200, 30, 30)),
        Image.new("RGB", (300, 900), (10, 200, 10)),
        Image.new("L", (512, 512), 128),
    ]


def _small_image():
    from PIL import Image

    return Image.new("RGB", (96, 64), (40, 90, 160))  # one AnyRes tile: the cheapest image request


# ---------------------------------------------------------------------------- registry and model_args
def test_entry_point_resolves_in_lmms_eval_registry():
    from importlib.metadata import entry_points

    import lmms_eval.models as lmms_models

    from ov_bench.integrations.lmms_eval_model import OvBenchReference

    names = [ep.name for ep in entry_points(group="lmms_eval.models")]
    assert MODEL in names
    assert MODEL in lmms_models.list_available_models()
    assert lmms_models.get_model(MODEL) is OvBenchReference
    assert (
        lmms_models.get_model_manifest(MODEL).simple_class_path
        == "ov_bench.integrations.lmms_eval_model.OvBenchReference"
    )


@pytest.mark.parametrize(
    ("arg_string", "error", "needle"),
    [
        ("pretrained=tiny,max_grid_tokenz=729", ValueError, "unknown model_args max_grid_tokenz"),
        ("pretrained=/no/such/checkpoint", FileNotFoundError, "/no/such/checkpoint"),
        ("pretrained=" + __file__, ValueError, "expected a checkpoint directory"),
        (
            "pretrained=" + str(Path(__file__).parent / "benchmarks"),
            FileNotFoundError,
            "not a checkpoint directory",
        ),
        ("max_grid_tokens=729", ValueError, "needs pretrained="),
        ("pretrained=tiny,max_grid_tokens=-5", ValueError, "max_grid_tokens"),
        ("pretrained=tiny,frames=0", ValueError, "frames"),
        ("pretrained=tiny,dtype=int8", ValueError, "dtype"),
        ("pretrained=tiny,device=tpu9", ValueError, "device"),
        ("pretrained=tiny,unpad_rounding=floor", ValueError, "unpad_rounding"),
    ],
)
def test_bad_model_args_fail_with_one_line(arg_string, error, needle):
    """What lmms-eval's evaluator calls: get_model(name).create_from_arg_string(model_args, {...})."""
    import lmms_eval.models as lmms_models

    cls = lmms_models.get_model(MODEL)
    with pytest.raises(error) as info:
        cls.create_from_arg_string(arg_string, {"batch_size": 1, "max_batch_size": None, "device": None})
    message = str(info.value)
    assert needle in message and "\n" not in message and message.startswith(MODEL)


def test_max_grid_tokens_none_means_no_cap_and_batch_size_is_checked():
    from ov_bench.integrations.lmms_eval_model import OvBenchReference

    with pytest.raises(ValueError, match="batch_size"):  # lmms-eval passes --batch_size as a keyword
        OvBenchReference(pretrained="tiny", batch_size="0")
    m = OvBenchReference.create_from_arg_string("pretrained=tiny,max_grid_tokens=none")
    assert m.model.config.anyres.max_grid_tokens is None


# ---------------------------------------------------------------------------- generate_until
def test_images_several_images_and_text_only(model):
    """Token counts against the reference model's analytic counter and the tokenizer on the prompt text."""
    from reference_model import count_prompt_visual_tokens

    imgs = _images()
    model.task_dict = {"t": {"test": {0: {}, 1: {}, 2: {}}}}
    reqs = [
        lmms_request("What is shown?", [imgs[0]], {"max_new_tokens": 5, "until": []}, doc_id=0),
        lmms_request("Compare the images.", imgs, {"max_new_tokens": 3, "until": []}, doc_id=1),
        lmms_request("Say something.", None, {"max_new_tokens": 4, "until": []}, doc_id=2),
    ]
    before = len(model.request_stats)
    out = model.generate_until(reqs)
    assert len(out) == 3
    tok = model.tokenizer
    for res, req, n_imgs, max_new in zip(out, reqs, (1, 3, 0), (5, 3, 4)):
        sizes = [im.size for im in (req.args[2](None) or [])]
        expected_visual = count_prompt_visual_tokens(sizes, [], max_grid_tokens=TAU) if sizes else 0
        # the ChatML text around the placeholders, tokenized independently of the processor
        placeholders = " ".join(["<image>"] * n_imgs) + "\n" if n_imgs else ""
        text = (
            f"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n{placeholders}"
            f"{req.args[0]}<|im_end|>\n<|im_start|>assistant\n"
        )
        text_tokens = sum(
            len(tok(part, add_special_tokens=False).input_ids) for part in text.split("<image>") if part
        )
        counts = res.token_counts
        assert counts.visual_tokens == expected_visual
        assert counts.input_tokens == text_tokens + expected_visual
        assert counts.output_tokens == max_new  # the tiny model never emits EOS
        assert counts.latency_ms > 0
        assert counts.to_dict().keys() >= {"input_tokens", "output_tokens", "visual_tokens", "latency_ms"}
    stats = model.request_stats[before:]
    assert [s.num_images for s in stats] == [1, 3, 0]
    assert all(
        {"vision_encoder", "prefill", "decode", "ttft", "end_to_end"} <= s.latency_ms.keys()
        for s in stats[:2]
    )
    assert stats[1].visual_tokens < 3 * stats[0].visual_tokens  # several images: one 729-token crop each


def test_video_path_and_image_path(model, samples, tmp_path):
    from PIL import Image

    from reference_model import count_video_tokens

    video = sorted((samples / "videomme" / "data").glob("*.mp4"))[0]
    img_path = tmp_path / "x.png"
    Image.new("RGB", (400, 300), (1, 2, 3)).save(img_path)
    model.task_dict = {"t": {"test": {0: {}, 1: {}}}}
    out = model.generate_until(
        [
            lmms_request("What happens?", [str(video)], {"max_new_tokens": 2}, doc_id=0),
            lmms_request("What colour?", [str(img_path)], {"max_new_tokens": 2}, doc_id=1),
        ]
    )
    stats = model.request_stats[-2:]
    assert stats[0].num_frames == FRAMES and stats[0].num_images == 0
    assert out[0].token_counts.visual_tokens == count_video_tokens(FRAMES, model.config.video_pool_stride)
    assert stats[1].num_images == 1 and stats[1].num_frames == 0


def test_until_is_ignored_and_max_new_tokens_is_honoured(model):
    """As lmms-eval's llava_onevision: `until` does not cut the text, the response is stripped."""
    img = _small_image()
    model.task_dict = {"t": {"test": {0: {}}}}
    raw = model.generate_until([lmms_request("Q?", [img], {"max_new_tokens": 6, "until": []})])[0]
    stop = raw.text[1:2] or "x"
    with_until = model.generate_until([lmms_request("Q?", [img], {"max_new_tokens": 6, "until": [stop]})])[0]
    assert with_until.text == raw.text
    assert raw.text == raw.text.strip()
    assert raw.token_counts.output_tokens <= 6


def test_sampling_is_refused(model):
    model.task_dict = {"t": {"test": {0: {}}}}
    for kwargs in ({"do_sample": True}, {"temperature": 0.7}, {"num_beams": 3}):
        with pytest.raises(ValueError, match="greedy|beam"):
            model.generate_until([lmms_request("Q?", None, {"max_new_tokens": 2, **kwargs})])
    # lmms-eval's greedy settings (videomme's YAML) are accepted
    model.generate_until(
        [
            lmms_request(
                "Q?",
                None,
                {"max_new_tokens": 1, "temperature": 0, "top_p": 1.0, "num_beams": 1, "do_sample": False},
            )
        ]
    )


def test_missing_video_is_an_empty_answer_and_a_recorded_error(model, tmp_path):
    model.task_dict = {"t": {"test": {0: {}}}}
    out = model.generate_until([lmms_request("Q?", [str(tmp_path / "missing.mp4")], {"max_new_tokens": 2})])
    assert out[0].text == "" and out[0].token_counts is None
    assert "missing.mp4" in model.request_stats[-1].error


# ---------------------------------------------------------------------------- loglikelihood
def test_loglikelihood_agrees_with_greedy_generation(model):
    """The KV-cached greedy decode and the one-pass forward of loglikelihood must agree on which
    continuation is greedy; log-probabilities are sums of per-token log-probabilities (< 0)."""
    img = _small_image()
    model.task_dict = {"t": {"test": {0: {"answer": "zebra"}}}}
    greedy = model.generate_until([lmms_request("Describe.", [img], {"max_new_tokens": 3, "until": []})])[
        0
    ].text
    lls = model.loglikelihood(
        [
            lmms_request("Describe.", [img], kind="loglikelihood", target=greedy),
            lmms_request("Describe.", [img], kind="loglikelihood", target="zebra"),
            lmms_request(
                "Describe.", [img], kind="loglikelihood", target=lambda doc: doc["answer"]
            ),  # doc_to_target
            lmms_request("Describe.", [img], kind="loglikelihood", target=greedy[:1]),
        ]
    )
    (ll_greedy, is_greedy), (ll_other, other_greedy), (ll_target, _), (ll_first, first_greedy) = lls
    assert is_greedy and first_greedy and not other_greedy
    assert ll_other == pytest.approx(ll_target)
    assert (
        ll_greedy <= ll_first <= 0
    )  # one more token can only lower the log-probability (a confident model may give 0.0)
    assert ll_greedy > ll_other


# ---------------------------------------------------------------------------- end to end
LMMS_DRIVER = r"""
import json, sys
from lmms_eval.evaluator import simple_evaluate
from lmms_eval.tasks import TaskManager

yaml_dir, model_args, out = sys.argv[1:4]
# include_defaults=False: our mmmu_val / videomme YAMLs would otherwise be shadowed by the built-in ones
tm = TaskManager("WARNING", include_path=yaml_dir, include_defaults=False, model_name="ov_bench_reference")
res = simple_evaluate(model="ov_bench_reference", model_args=model_args, tasks=["mmmu_val", "videomme"],
                      task_manager=tm, log_samples=True, bootstrap_iters=0, verbosity="WARNING")
samples = {t: [{"doc": s["doc"], "response": s["filtered_resps"][0], "token_counts": s["token_counts"]} for s in rows]
           for t, rows in res["samples"].items()}
json.dump({"results": res["results"], "throughput": res.get("throughput"), "efficiency": res.get("efficiency"),
           "samples": samples}, open(out, "w"), default=str)
"""


def _subset(src, dst: Path, rows: list[int]) -> None:
    """The same parquet rows, schema and Hugging Face feature metadata kept (images stay Image features)."""
    import pyarrow.parquet as pq

    dst.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pq.read_table(src).take(rows), dst)


@pytest.fixture(scope="module")
def both_harnesses(samples: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Runs lmms-eval's simple_evaluate and `ov-bench run` (two subprocesses, concurrently) on one data dir.

    Choice of docs: ov-bench's --limit takes a seeded stratified subset and lmms-eval's --limit the
    first N rows, so neither harness gets a limit. The test writes one data directory in the hub
    layout holding exactly the chosen rows; `ov-bench run --data DIR` reads all of it, and the
    lmms-eval task YAMLs (``include:`` of lmms-eval's own mmmu_val.yaml / videomme.yaml, only
    dataset_path/dataset_kwargs replaced by the local parquet) read the same files. Videos: lmms-eval's
    videomme doc_to_visual looks for $HF_HOME/videomme/data/<videoID>.mp4, so HF_HOME gets a
    ``videomme`` link to the data directory.

    The MMMU rows are the open-ended questions. For a multiple-choice answer with no option letter in
    it (the tiny model's random weights answer with newlines only) lmms-eval's parser guesses a letter
    with the global `random` module, while ov-bench draws the guess from an RNG seeded by the doc id
    (documented in tasks/image_tasks.py); those scores agree only by chance, so they are left out.
    Open-ended scoring is deterministic in both. Multi-image prompts are covered by the unit tests above.
    """
    base = tmp_path_factory.mktemp("lmms-e2e")
    data, yaml_dir, hf_home = base / "data", base / "yaml", base / "hf_home"
    import lmms_eval
    import pyarrow.parquet as pq
    import yaml

    mmmu_src = samples / "mmmu" / "data" / "validation-00000-of-00001.parquet"
    kinds = pq.read_table(mmmu_src, columns=["question_type"]).column(0).to_pylist()
    mmmu_rows = [i for i, k in enumerate(kinds) if k == "open"][:3]
    mmmu_file = data / "mmmu" / "data" / "validation-00000-of-00001.parquet"
    _subset(mmmu_src, mmmu_file, mmmu_rows)
    video_file = data / "videomme" / "videomme" / "test-00000-of-00001.parquet"  # the hub's path
    _subset(
        samples / "videomme" / "videomme" / "test-00000-of-00001.parquet", video_file, [0, 1, 3]
    )  # two videos
    (data / "videomme" / "data").symlink_to(
        samples / "videomme" / "data", target_is_directory=True
    )  # unpacked
    from tasks import get_task
    from tasks.hub_layout import write_readme

    for name in ("mmmu", "videomme"):  # the repo READMEs' `configs:`, which ov-bench's loader reads
        write_readme(get_task(name), data / name)
    hf_home.mkdir()
    (hf_home / "videomme").symlink_to(data / "videomme", target_is_directory=True)

    lmms_tasks = Path(lmms_eval.__file__).parent / "tasks"
    yaml_dir.mkdir()
    for name, include, split, file in (
        ("mmmu_val", "mmmu/mmmu_val.yaml", "validation", mmmu_file),
        ("videomme", "videomme/videomme.yaml", "test", video_file),
    ):
        config = {
            "include": str(lmms_tasks / include),
            "task": name,
            "dataset_path": "parquet",
            "dataset_kwargs": {"data_files": {split: str(file)}},
        }
        (yaml_dir / f"{name}.yaml").write_text(yaml.safe_dump(config))

    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OV_BENCH_CACHE": str(samples.parent),
        "HF_HOME": str(hf_home),
        "HF_DATASETS_CACHE": str(base / "datasets-cache"),
        "LMMS_EVAL_DATASETS_CACHE": str(base / "datasets-cache"),
        "OMP_NUM_THREADS": "1",
    }  # two processes side by side
    lmms_out, ovb_out = base / "lmms.json", base / "ovb"
    lmms = subprocess.Popen(
        [
            sys.executable,
            "-c",
            LMMS_DRIVER,
            str(yaml_dir),
            f"pretrained=tiny,max_grid_tokens={TAU},frames={FRAMES}",
            str(lmms_out),
        ],
        env=env,
        cwd=base,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ovb = subprocess.run(
        [
            sys.executable,
            "-m",
            "ov_bench.cli",
            "run",
            "--tasks",
            "mmmu,videomme",
            "--model",
            "tiny",
            "--data",
            str(data),
            "--max-grid-tokens",
            str(TAU),
            "--frames",
            str(FRAMES),
            "--output",
            str(ovb_out),
            "--no-progress",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lmms_log, _ = lmms.communicate(timeout=600)
    assert ovb.returncode == 0, ovb.stderr[-3000:]
    assert lmms.returncode == 0, lmms_log[-3000:]
    with sqlite3.connect(ovb_out / "samples.sqlite") as db:
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("select * from samples")]
    return {
        "lmms": json.loads(lmms_out.read_text()),
        "ovb_results": json.loads((ovb_out / "results.json").read_text()),
        "ovb_samples": rows,
        "n": {"mmmu": len(mmmu_rows), "videomme": 3},
    }


@pytest.mark.slow
@pytest.mark.parametrize("task_name", ["mmmu", "videomme"])
def test_lmms_eval_scores_equal_ov_bench_run(both_harnesses, task_name):
    from tasks import get_task

    task = get_task(task_name)
    lmms_metrics = both_harnesses["lmms"]["results"][task.lmms_eval_name]
    ovb_task = both_harnesses["ovb_results"]["tasks"][task_name]
    assert ovb_task["n"] == both_harnesses["n"][task_name] and ovb_task["errors"] == 0
    assert lmms_metrics[f"{task.main_metric},none"] == pytest.approx(
        ovb_task["metrics"][task.main_metric], abs=1e-9
    )


@pytest.mark.slow
@pytest.mark.parametrize("task_name", ["mmmu", "videomme"])
def test_same_responses_and_token_counts_per_doc(both_harnesses, task_name):
    """The same response, prompt, visual and generated token counts per doc in both harnesses."""
    from tasks import get_task

    task = get_task(task_name)
    ours = {r["doc_id"]: r for r in both_harnesses["ovb_samples"] if r["task"] == task_name}
    theirs = {task.doc_id(s["doc"]): s for s in both_harnesses["lmms"]["samples"][task.lmms_eval_name]}
    assert set(ours) == set(theirs) and len(ours) == both_harnesses["n"][task_name]
    for doc_id, row in ours.items():
        sample = theirs[doc_id]
        assert sample["response"] == row["response"], doc_id
        (counts,) = sample["token_counts"]
        assert counts["input_tokens"] == row["prompt_tokens"], doc_id
        assert counts["output_tokens"] == row["new_tokens"], doc_id
        assert counts["visual_tokens"] == row["visual_tokens_measured"] == row["visual_tokens_counted"], (
            doc_id
        )


@pytest.mark.slow
def test_lmms_eval_throughput_and_efficiency_blocks(both_harnesses):
    lmms = both_harnesses["lmms"]
    samples = [s for rows in lmms["samples"].values() for s in rows]
    counts = [s["token_counts"][0] for s in samples]
    throughput = lmms["throughput"]
    assert throughput["total_gen_tokens"] == sum(c["output_tokens"] for c in counts)
    assert throughput["avg_visual_tokens"] == pytest.approx(
        sum(c["visual_tokens"] for c in counts) / len(counts)
    )
    assert throughput["avg_latency"] > 0 and throughput["avg_ttft_s"] > 0
    assert lmms["efficiency"]["overall"]["total_input_tokens"] == sum(c["input_tokens"] for c in counts)
