"""The published numbers in ov_bench/published/ against an independent transcription of the paper's
tables (typed again here, row by row, as the paper prints them), and the catalog's key handling."""

from __future__ import annotations

import pytest

from ov_bench.errors import UsageError
from ov_bench.published import catalog

OV = ("0.5b-ov", "7b-ov", "72b-ov")
SI = ("0.5b-si", "7b-si", "72b-si")

# (task, metric as tables show it) -> the 0.5B, 7B, 72B OneVision values as printed (Tables 3 and 5,
# and Tables 2/4 for the multi-image rows).
OV_ROWS = {
    ("mmmu", "mmmu_acc"): "31.4 48.8 56.8",
    ("ai2d", "exact_match"): "57.1 81.4 85.6",
    ("chartqa", "relaxed_overall"): "61.4 80.0 83.7",
    ("docvqa", "anls"): "73.7 90.2 93.1",
    ("docvqa_test", "anls"): "70.0 87.5 91.3",
    ("infovqa_val", "anls"): "46.3 70.7 79.2",
    ("infovqa_test", "anls"): "41.8 68.8 74.9",
    ("mathvista_testmini", "llm_as_judge_eval"): "34.8 63.2 67.5",
    ("mathverse_testmini_vision_only", "gpt_eval_score"): "17.9 26.2 39.1",
    ("mmbench_en_dev", "gpt_eval_score"): "52.1 80.8 85.9",
    ("mme", "mme_cognition_score"): "240 418 579",
    ("mme", "mme_perception_score"): "1238 1580 1682",
    ("mmstar", "average"): "37.5 61.7 66.1",
    ("mmvet", "gpt_eval_score"): "29.1 57.5 63.7",
    ("seedbench", "seed_image"): "65.5 75.4 78.0",
    ("scienceqa_img", "exact_match"): "67.2 96.0 90.3",
    ("realworldqa", "exact_match"): "55.6 66.3 71.9",
    ("llava_in_the_wild", "gpt_eval_llava_all"): "74.2 90.7 93.5",
    ("dc100_en", "llm_as_judge_eval"): "83.3 88.9 91.2",
    ("muirbench", "muirbench_score_overall"): "25.5 41.8 54.8",
    ("llava_interleave_bench", "overall_score_out_domain"): "33.3 64.2 79.9",
    ("mantis", "mantis_score"): "39.6 64.2 77.6",
    ("blink", "blink_acc"): "52.1 48.2 55.4",
    ("videomme", "videomme_perception_score"): "44.0 58.2 66.2",
    ("videomme_w_subtitle", "videomme_perception_score"): "43.5 61.5 69.5",
    ("mvbench", "mvbench_accuracy"): "45.5 56.7 59.4",
    ("egoschema_test", "accuracy"): "26.8 60.1 62.0",
    ("nextqa", "exact_match"): "57.2 79.4 80.2",
    ("perceptiontest", "accuracy"): "49.2 57.1 66.9",
    ("activitynetqa", "gpt_eval_accuracy"): "50.5 56.6 62.3",
    ("mlvu_dev", "mlvu_percetion_score"): "50.3 64.7 68.0",
    ("seedbench", "seed_video"): "44.2 56.9 62.1",
    ("longvideobench_val_v", "lvb_acc"): "45.8 56.4 61.3",
    ("videochatgpt", "gpt_eval_score"): "3.12 3.51 3.62",
    ("video_dc499", "gpt_eval_score"): "3.55 3.75 3.60",
}

# Table 4 as printed: its column order, then one line per size. BLINK, Mantis, MathVerse, MuirBench,
# SciVerse and TR-VQA are also Table 2 rows (same numbers); all but BLINK, Mantis and MuirBench are
# llava_interleave_bench metrics named after the paper's columns.
TABLE4_COLUMNS = (
    "IEI MI-VQA NLVR2 Puzzle Q-Bench Spot-Diff TR-VQA VST 3D-Chat 3D-TD ScanQA ALFRED nuScenes "
    "BLINK Mantis MathVerse MuirBench SciVerse"
).split()
TABLE4 = {
    "0.5b-ov": "17.1, 48.7, 63.4, 35.4, 48.8, 36.4, 65.0, 29.8, 60.0, 48.0, 29.4, 62.2, 70.5, 52.1, 39.6, 60.0, 25.5, 29.1",
    "7b-ov": "22.2, 90.2, 89.4, 53.3, 74.5, 39.2, 80.1, 31.7, 62.8, 52.6, 30.1, 61.0, 79.8, 48.2, 64.2, 67.6, 41.8, 79.1",
    "72b-ov": "22.5, 95.3, 93.8, 63.4, 83.2, 43.3, 83.7, 34.5, 63.2, 53.3, 35.8, 66.3, 78.8, 55.4, 77.6, 91.6, 54.8, 94.9",
}
INTERLEAVE = "llava_interleave_bench"
TABLE4_KEYS = {
    "IEI": (INTERLEAVE, "IEI"),
    "MI-VQA": (INTERLEAVE, "MI-VQA"),
    "NLVR2": (INTERLEAVE, "NLVR2"),
    "Puzzle": (INTERLEAVE, "Puzzle"),
    "Q-Bench": (INTERLEAVE, "Q-Bench"),
    "Spot-Diff": (INTERLEAVE, "Spot-Diff"),
    "TR-VQA": (INTERLEAVE, "TR-VQA"),
    "VST": (INTERLEAVE, "VST"),
    "3D-Chat": (INTERLEAVE, "3D-Chat"),
    "3D-TD": (INTERLEAVE, "3D-TD"),
    "ScanQA": (INTERLEAVE, "ScanQA"),
    "ALFRED": (INTERLEAVE, "ALFRED"),
    "nuScenes": (INTERLEAVE, "nuScenes"),
    "BLINK": ("blink", "blink_acc"),
    "Mantis": ("mantis", "mantis_score"),
    "MathVerse": (INTERLEAVE, "MathVerse-mv"),
    "MuirBench": ("muirbench", "muirbench_score_overall"),
    "SciVerse": (INTERLEAVE, "SciVerse-mv"),
}

# The SI checkpoints' printed rows, in the order: MMMU, AI2D, ChartQA, DocVQA val/test, MathVista,
# MMBench, MME cognition/perception; Video-MME without/with subtitles, MVBench, EgoSchema, NExT-QA,
# PerceptionTest; MuirBench.
SI_ORDER = [
    ("mmmu", "mmmu_acc"),
    ("ai2d", "exact_match"),
    ("chartqa", "relaxed_overall"),
    ("docvqa", "anls"),
    ("docvqa_test", "anls"),
    ("mathvista_testmini", "llm_as_judge_eval"),
    ("mmbench_en_dev", "gpt_eval_score"),
    ("mme", "mme_cognition_score"),
    ("mme", "mme_perception_score"),
    ("videomme", "videomme_perception_score"),
    ("videomme_w_subtitle", "videomme_perception_score"),
    ("mvbench", "mvbench_accuracy"),
    ("egoschema_test", "accuracy"),
    ("nextqa", "exact_match"),
    ("perceptiontest", "accuracy"),
    ("muirbench", "muirbench_score_overall"),
]
SI_LINES = {
    "0.5b-si": "31.2, 54.2, 61.0, 75.0/71.2, 34.6, 43.8, 272/1217; 41.7/40.4, 43.3, 33.1, 53.6, 48.6; 22.7",
    "7b-si": "47.3, 81.6, 78.8, 89.3/86.9, 56.1, 81.7, 483/1626; 55.0/59.1, 51.2, 52.9, 61.6, 54.9; 32.7",
    "72b-si": "57.4, 85.1, 84.9, 93.5/91.8, 66.5, 86.6, 563/1706; 64.8/66.9, 57.1, 58.6, 67.2, 62.3; 33.2",
}

# Where Table 2 prints another value than the detailed table.
TABLE2 = {
    ("dc100_en", "llm_as_judge_eval", "7b-ov"): "88.2",
    ("longvideobench_val_v", "lvb_acc", "7b-ov"): "56.3",
    ("longvideobench_val_v", "lvb_acc", "72b-ov"): "63.2",
    ("videochatgpt", "gpt_eval_score", "7b-ov"): "3.49",
}

JUDGES = {
    ("activitynetqa", "gpt_eval_accuracy"): "gpt-3.5-turbo-0613",
    ("videochatgpt", "gpt_eval_score"): "gpt-3.5-turbo-0613",
    ("video_dc499", "gpt_eval_score"): "gpt-3.5-turbo-0613",
    ("mmvet", "gpt_eval_score"): "gpt-4-0613",
    ("mathvista_testmini", "llm_as_judge_eval"): "unknown",
    ("mathverse_testmini_vision_only", "gpt_eval_score"): "unknown",
    ("mmbench_en_dev", "gpt_eval_score"): "unknown",
    ("llava_in_the_wild", "gpt_eval_llava_all"): "unknown",
    ("dc100_en", "llm_as_judge_eval"): "unknown",
}


def _expected() -> dict[str, dict[tuple[str, str], str]]:
    out: dict[str, dict[tuple[str, str], str]] = {k: {} for k in OV + SI}
    for key, line in OV_ROWS.items():
        for ckpt, value in zip(OV, line.split()):
            out[ckpt][key] = value
    for ckpt, line in TABLE4.items():
        values = [v.strip() for v in line.split(",")]
        for column, value in zip(TABLE4_COLUMNS, values, strict=True):
            key = TABLE4_KEYS[column]
            assert out[ckpt].setdefault(key, value) == value, (ckpt, column)  # Tables 2 and 4 agree
    for ckpt, line in SI_LINES.items():
        values = [v for part in line.replace(";", ",").split(",") for v in part.strip().split("/")]
        for key, value in zip(SI_ORDER, values, strict=True):
            out[ckpt][key] = value
    return out


def _catalog(ckpt: str) -> dict[tuple[str, str], str]:
    values = catalog.published_values(ckpt)
    out = {(v.row.task, v.row.metric): v.printed for v in values}
    assert len(out) == len(values), "two rows share a task and metric"
    return out


@pytest.mark.parametrize("ckpt", OV + SI)
def test_every_value_matches_the_transcription(ckpt):
    assert _catalog(ckpt) == _expected()[ckpt]


def test_table2_values_and_judges():
    fam = catalog.families()[0]
    table2 = {(r.task, r.metric, k): v for r in fam.rows for k, v in r.table2.items()}
    assert table2 == TABLE2
    judges = {(r.task, r.metric): r.judge for r in fam.rows if r.judge is not None}
    assert judges == JUDGES


def test_printed_digits_set_the_rounding():
    by_key = {(v.row.task, v.row.metric): v for v in catalog.published_values("72b-ov")}
    dc = by_key[("video_dc499", "gpt_eval_score")]
    assert dc.printed == "3.60" and dc.rounding == pytest.approx(0.005)
    assert by_key[("mme", "mme_perception_score")].rounding == pytest.approx(0.5)
    assert by_key[("chartqa", "relaxed_overall")].rounding == pytest.approx(0.05)


def test_scales_of_existing_tasks():
    """The scale of each row whose task exists matches the task's results.json metric: a 0-1 metric is
    printed x100, a percent metric x1 (Video-MME and MVBench aggregate in percent in lmms-eval)."""
    rows = {(r.task, r.metric): r for r in catalog.families()[0].rows}
    assert rows[("mmmu", "mmmu_acc")].factor == 100 and rows[("mmmu", "mmmu_acc")].full_scale == 100
    assert rows[("videomme", "videomme_perception_score")].factor == 1
    assert rows[("mvbench", "mvbench_accuracy")].factor == 1
    assert rows[("mme", "mme_perception_score")].full_scale == 2000  # 10 categories x 200
    assert rows[("mme", "mme_cognition_score")].full_scale == 800  # 4 categories x 200
    assert rows[("video_dc499", "gpt_eval_score")].full_scale == 5


def test_evaluated_path():
    assert catalog.families()[0].evaluated_path == {
        "frames": 32,
        "multi_image_layout": "eval",
        "dtype": "float16",
        "generation_config": True,
        "grid_pinpoints": "ov",
        "threshold": 6561,
        "prompts": "default",
    }


@pytest.mark.parametrize(
    "spelling, key",
    [
        ("7b-ov", "7b-ov"),
        ("published:7B-OV", "7b-ov"),
        ("lmms-lab/llava-onevision-qwen2-7b-ov", "7b-ov"),
        ("published:llava-hf/llava-onevision-qwen2-7b-ov-hf", "7b-ov"),
        ("llava-onevision-qwen2-0.5b-si", "0.5b-si"),
        ("published:lmms-lab/llava-onevision-qwen2-72b-si", "72b-si"),
    ],
)
def test_checkpoint_spellings(spelling, key):
    assert catalog.resolve_checkpoint(spelling)[1] == key
    assert catalog.published_values(spelling) == catalog.published_values(key)


def test_unknown_checkpoint_lists_the_known_ones():
    with pytest.raises(UsageError) as err:
        catalog.resolve_checkpoint("published:13b-ov")
    message = str(err.value)
    assert "\n" not in message and all(k in message for k in OV + SI)


@pytest.mark.parametrize(
    "model, key",
    [
        ({"id": "lmms-lab/llava-onevision-qwen2-7b-ov", "adapter": "reference"}, "7b-ov"),
        ({"id": "hf:/data/llava-onevision-qwen2-0.5b-ov-hf", "adapter": "hf"}, "0.5b-ov"),
        ({"id": "/hf/hub/models--lmms-lab--llava-onevision-qwen2-72b-si/snapshots/0123abc"}, "72b-si"),
        ({"id": "/ckpt/mine", "config": {"_name_or_path": "lmms-lab/llava-onevision-qwen2-7b-si"}}, "7b-si"),
        ({"id": "tiny", "random_weights": True}, None),
        ({"id": "arch:7b", "random_weights": True}, None),
        ({"id": "/ckpt/llava-onevision-qwen2-7b-ov/checkpoint-500"}, None),  # a fine-tune of it
        ({"id": "/ckpt/llava-onevision-qwen2-7b-ov-chat"}, None),  # another release
        ({"id": "/ckpt/7b-ov"}, None),  # a bare short key as a folder name is too loose
    ],
)
def test_recognise_checkpoint(model, key):
    assert catalog.recognise_checkpoint(model) == key
    rec = catalog.recognise(model)
    assert rec.why and (rec.key is None) == (key is None)


def test_explicit_key_wins():
    assert catalog.recognise({"id": "/ckpt/mine"}, explicit="7b-si").key == "7b-si"
    with pytest.raises(UsageError):
        catalog.recognise({"id": "/ckpt/mine"}, explicit="8b")


def test_a_family_file_is_all_it_takes(tmp_path, monkeypatch):
    """Another family's table dropped into the folder is read with no code change."""
    (tmp_path / "other.yaml").write_text(
        "family: other\npaper: x\nevaluated_path: {dtype: bfloat16}\n"
        "checkpoints:\n  other-1b: [org/other-1b]\n"
        "rows:\n  - {row: MMMU, tables: ['1'], task: mmmu, metric: mmmu_acc, scale: fraction, values: {other-1b: '40.0'}}\n"
    )
    for path in catalog.DATA_DIR.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    monkeypatch.setattr(catalog, "DATA_DIR", tmp_path)
    catalog.families.cache_clear()
    try:
        assert catalog.resolve_checkpoint("org/other-1b")[1] == "other-1b"
        assert [v.printed for v in catalog.published_values("other-1b")] == ["40.0"]
        assert catalog.resolve_checkpoint("7b-ov")[1] == "7b-ov"
    finally:
        catalog.families.cache_clear()
