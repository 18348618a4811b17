"""Training data: LLaVA records -> ChatML ids and targets, visual-token counts per stage, over-long
handling, batching and the length-grouped order, the training loss against the model's own forward,
recipes against docs/model.md section 4, and the synthetic set's answers in its pixels.

Independent sources: the evaluation processor's tokenization of the same text (Processor.__call__),
LlavaOneVision.forward's logits, docs/model.md's numbers and token counts, and raw pixel arithmetic.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from reference_model import LlavaOneVision, count_image_tokens
from reference_model.anyres import select_best_resolution
from reference_model.image_processing import normalize, video_frames
from reference_model.processor import chatml
from reference_model.training import TrainOptions, apply_overrides, get_stage, load_yaml_overrides
from reference_model.training.conversations import (
    IGNORE_INDEX,
    ConversationTokenizer,
    RecordError,
    parse_record,
)
from reference_model.training.dataset import TrainDataset, collate, global_batches, shard
from reference_model.training.forward import TrainingModule
from reference_model.training.media import load_video_frames, write_video
from reference_model.training.recipes import STAGES
from reference_model.training.synthetic import COLOURS, make_synthetic_set
from reference_model.training.trainer import build_optimizer


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    rng = np.random.default_rng(0)
    for name, size in (
        ("wide.png", (1280, 720)),
        ("a.png", (64, 48)),
        ("b.png", (50, 90)),
        ("c.png", (300, 200)),
    ):
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(root / name)
    write_video(
        root / "clip.mp4", rng.integers(0, 256, (6, 64, 64, 3), dtype=np.uint8), 4, codec="mpeg4", qscale=2
    )
    return root


def recipe_pinpoints(model):
    return model.config.anyres.grid_pinpoints


def _rec(value, answer="red", **media):
    return {
        "id": "x",
        **media,
        "conversations": [{"from": "human", "value": value}, {"from": "gpt", "value": answer}],
    }


# ---------------------------------------------------------------- records and tokenization
def test_parse_record_placeholders():
    video = parse_record(_rec("<image>\nWhich way?", video="v.mp4"))
    assert video.modality == "video" and video.turns[0].text == "<video>\nWhich way?"  # LLaVA writes <image>
    missing = parse_record(_rec("Which colours?", image=["a.png", "b.png"]))
    assert missing.modality == "multi_image" and missing.turns[0].text == "<image> <image>\nWhich colours?"
    assert parse_record(_rec("hi")).modality == "text"
    system = parse_record(
        {
            "conversations": [
                {"from": "system", "value": "Be brief."},
                {"from": "human", "value": "q"},
                {"from": "gpt", "value": "a"},
            ]
        }
    )
    assert system.system == "Be brief." and len(system.turns) == 2


@pytest.mark.parametrize(
    "raw,message",
    [
        (_rec("<image> <image>\nq", image="a.png"), "2 placeholders for 1 image"),
        ({"id": "y", "conversations": [{"from": "human", "value": "q"}]}, "no assistant"),
        (_rec("q", answer="<image> a", image="a.png"), "assistant turn contains"),
        ({"id": "z", "conversations": [{"from": "robot", "value": "q"}]}, "needs 'from'"),
        (_rec("<image>\nq", image="a.png", video="v.mp4"), "both image and video"),
        ({"id": "w"}, "no conversations"),
    ],
)
def test_bad_records(raw, message):
    with pytest.raises(RecordError, match=message):
        parse_record(raw)


def test_targets_are_assistant_turns_and_im_end(tiny):
    record = parse_record(
        {
            "id": "m",
            "conversations": [
                {"from": "human", "value": "first?"},
                {"from": "gpt", "value": "one"},
                {"from": "human", "value": "second?"},
                {"from": "gpt", "value": "two two"},
            ],
        }
    )
    ids = tiny.config.token_ids
    out = ConversationTokenizer(tiny.tokenizer, ids.image, ids.video)(record)
    text = tiny.tokenizer.decode(out.input_ids)
    assert (
        text
        == chatml("first?")
        + "one<|im_end|>\n<|im_start|>user\nsecond?<|im_end|>\n<|im_start|>assistant\ntwo two<|im_end|>\n"
    )
    spans, current = [], []
    for tid, lab in zip(out.input_ids, out.labels):
        if lab == IGNORE_INDEX:
            if current:
                spans.append(current)
            current = []
        else:
            assert lab == tid
            current.append(tid)
    assert [tiny.tokenizer.decode(s) for s in spans] == ["one<|im_end|>", "two two<|im_end|>"]


@pytest.mark.parametrize(
    "stage,expected",
    [("1", 729), ("1.5", count_image_tokens(1280, 720, max_grid_tokens=2916)), ("2-si", 5967)],
)
def test_visual_tokens_per_stage(tiny, media, stage, expected):
    """Stage 1: a plain resize (729, no newline); 1.5: anyres_max_4; 2: anyres_max_9 (REFERENCE: 5967)."""
    recipe = get_stage(stage)
    model = LlavaOneVision.from_pretrained("tiny", max_grid_tokens=recipe.max_grid_tokens)
    ds = TrainDataset([_rec("<image>\nWhat?", image="wide.png")], media, model.processor, recipe)
    item = ds[0]
    assert int((item["input_ids"] == tiny.config.token_ids.image).sum()) == expected
    best_w, best_h = select_best_resolution(1280, 720, recipe_pinpoints(model))
    assert item["pixel_values"].shape[0] == (1 if stage == "1" else 1 + (best_w // 384) * (best_h // 384))
    assert item["pixel_values"].dtype == torch.uint8


def test_prompt_ids_match_the_evaluation_processor(tiny, media):
    """Training ids of a sample = the processor's ids for the same text (single, multi-image, video), with
    the processor in the train multi-image layout (a newline per image, as training feeds images)."""
    recipe = get_stage("2-ov")
    recipe.video_frames = 4
    records = [
        _rec("<image>\nWhat colour?", image="a.png"),
        _rec("<image> <image>\nSame?", "no", image=["a.png", "b.png"]),
        _rec("<image>\nWhere?", "left", video="clip.mp4"),
    ]
    ds = TrainDataset(records, media, tiny.processor, recipe)
    for i, raw in enumerate(records):
        item, record = ds[i], ds.samples[i].record
        text = chatml(record.turns[0].text) + raw["conversations"][1]["value"] + "<|im_end|>\n"
        images = [Image.open(media / p).convert("RGB") for p in record.images]
        videos = [load_video_frames(media / record.video, 4)] if record.video else None
        tiny.set_multi_image_layout("train")
        try:
            expected = tiny.processor(text=text, images=images or None, videos=videos)
        finally:
            tiny.set_multi_image_layout("eval")
        assert item["input_ids"].tolist() == expected["input_ids"][0].tolist()
        if images:
            assert torch.equal(normalize(item["pixel_values"]), expected["pixel_values"])


def test_training_loss_matches_model_forward(tiny, media):
    """The batched training loss (right padding, per-sample packing) = the sum of per-sample cross-entropies
    on LlavaOneVision.forward's logits, each sample alone (the model in the train multi-image layout)."""
    recipe = get_stage("2-ov")
    recipe.video_frames = 3
    records = [
        _rec("<image>\nWhat colour?", "red", image="c.png"),
        _rec("<image>\nAnd this?", "a long answer", image="b.png"),
        _rec("<image> <image>\nSame?", "no", image=["a.png", "b.png"]),
        _rec("<image>\nWhere?", "left", video="clip.mp4"),
    ]
    ds = TrainDataset(records, media, tiny.processor, recipe)
    items = [ds[i] for i in range(len(records))]
    batch = collate(items, tiny.config.token_ids.pad)
    loss_sum, n_targets = TrainingModule(tiny)(batch)
    expected, count = 0.0, 0
    for i, item in enumerate(items):
        record = ds.samples[i].record
        text = tiny.tokenizer.decode(item["input_ids"][item["input_ids"] < 259].tolist())  # no placeholders
        assert text.startswith("<|im_start|>system")
        images = [Image.open(media / p).convert("RGB") for p in record.images]
        videos = [load_video_frames(media / record.video, 3)] if record.video else None
        prompt = chatml(record.turns[0].text) + records[i]["conversations"][1]["value"] + "<|im_end|>\n"
        tiny.set_multi_image_layout("train")
        try:
            inputs = tiny.processor(text=prompt, images=images or None, videos=videos)
            with torch.no_grad():
                logits = tiny(**inputs).logits[0, :-1]
        finally:
            tiny.set_multi_image_layout("eval")
        labels = item["labels"][1:]
        keep = labels != IGNORE_INDEX
        expected += float(torch.nn.functional.cross_entropy(logits[keep], labels[keep], reduction="sum"))
        count += int(keep.sum())
    assert int(n_targets) == count
    assert float(loss_sum.detach()) == pytest.approx(expected, rel=1e-5)


def test_overlong_skip_and_truncate(tiny, media):
    long_answer = "word " * 200
    records = [
        _rec("<image>\nq", long_answer, image="a.png"),
        _rec("<image>\nq", "short", image="a.png"),
        {"id": "bad", "conversations": []},
        _rec("<image>\nq", image="missing.png"),
    ]
    recipe = get_stage("1")
    recipe.max_length = 900  # 729 visual + ~60 prompt tokens fit; the long answer does not
    skipped = TrainDataset(records, media, tiny.processor, recipe, overlong="skip")
    assert (
        skipped.stats.kept,
        skipped.stats.skipped_overlong,
        skipped.stats.skipped_invalid,
        skipped.stats.skipped_media,
    ) == (1, 1, 1, 1)
    truncated = TrainDataset(records, media, tiny.processor, recipe, overlong="truncate")
    assert (truncated.stats.kept, truncated.stats.truncated) == (2, 1)
    item = truncated[0]
    assert len(item["input_ids"]) == 900 and (item["labels"] != IGNORE_INDEX).any()
    recipe.max_length = 500  # the cut would split the image's 729 placeholders: skipped, never cut
    cut = TrainDataset(records, media, tiny.processor, recipe, overlong="truncate")
    assert cut.stats.kept == 0 and cut.stats.skipped_overlong == 2


def test_collate_right_pads(tiny, media):
    ds = TrainDataset(
        [_rec("<image>\nq", "a", image="a.png"), _rec("<image>\nq", "a much longer answer", image="b.png")],
        media,
        tiny.processor,
        get_stage("1"),
    )
    a, b = ds[0], ds[1]
    batch = collate([a, b], pad_id=tiny.config.token_ids.pad)
    n = len(a["input_ids"])
    assert batch["input_ids"].shape == (2, len(b["input_ids"]))
    assert batch["attention_mask"][0].tolist() == [1] * n + [0] * (len(b["input_ids"]) - n)
    assert (batch["input_ids"][0, n:] == tiny.config.token_ids.pad).all() and (
        batch["labels"][0, n:] == -100
    ).all()
    assert batch["images_per_sample"].tolist() == [1, 1] and batch["pixel_values"].shape[0] == 2


def test_global_batches_group_modality_and_length():
    rng = np.random.default_rng(1)
    modalities = ["single_image"] * 30 + ["video"] * 13 + ["text"] * 5
    lengths = rng.integers(10, 1000, len(modalities)).tolist()
    batches = global_batches(lengths, modalities, global_batch=4, seed=3, epoch=0, group_size=4)
    assert all(len(b) == 4 and len({modalities[i] for i in b}) == 1 for b in batches)
    assert set().union(*map(set, batches)) == set(
        range(len(modalities))
    )  # every sample, partial batches wrapped
    assert len(batches) == 8 + 4 + 2
    assert batches == global_batches(lengths, modalities, global_batch=4, seed=3, epoch=0, group_size=4)
    assert batches != global_batches(lengths, modalities, global_batch=4, seed=3, epoch=1, group_size=4)
    assert max(lengths[i] for i in batches[0]) == max(lengths)  # the longest batch first

    def padding(bs):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in bs)

    ungrouped = global_batches(lengths, modalities, 4, seed=3, epoch=0, group_by_length=False)
    assert padding(batches) < padding(ungrouped)
    assert shard(batches[0], 0, 2) + shard(batches[0], 1, 2) == batches[0]


# ---------------------------------------------------------------- recipes
def test_recipes_follow_reference_section_4():
    s1, s15, s2, ov = (get_stage(n) for n in ("1", "1.5", "2-si", "2-ov"))
    assert (
        s1.trainable == ("projector",) and s1.lr == 1e-3 and s1.image_mode == "base" and s1.vision_lr is None
    )
    for full in (s15, s2, ov):
        assert set(full.trainable) == {"vision_tower", "projector", "newline", "language_model"}
        assert (full.lr, full.vision_lr, full.image_mode) == (1e-5, 2e-6, "anyres")
    assert (s15.max_grid_tokens, s2.max_grid_tokens, ov.max_grid_tokens) == (729 * 4, 729 * 9, 729 * 9)
    assert ov.video_frames == 32 and set(ov.modalities) == {"single_image", "multi_image", "video"}
    assert all(
        (r.warmup_ratio, r.weight_decay, r.lr_scheduler) == (0.03, 0.0, "cosine") for r in STAGES.values()
    )
    assert get_stage("2-onevision") == ov and get_stage("2") == s2


def test_overrides_yaml_and_errors(tmp_path):
    recipe, options = get_stage("1.5"), TrainOptions()
    path = tmp_path / "r.yaml"
    path.write_text(
        "lr: 2e-5\nvision_lr: 1.0e-6\ntrainable: [projector, language_model]\nmax_grid_tokens: none\n"
        "per_device_batch_size: 2\ngradient_checkpointing: true\n"
    )
    apply_overrides(recipe, options, load_yaml_overrides(path))
    assert (recipe.lr, recipe.vision_lr, recipe.trainable, recipe.max_grid_tokens) == (
        2e-5,
        1e-6,
        ("projector", "language_model"),
        None,
    )
    assert options.per_device_batch_size == 2 and options.gradient_checkpointing is True
    apply_overrides(recipe, options, {"warmup_ratio": "0.1", "max_steps": "7"})
    assert recipe.warmup_ratio == 0.1 and options.max_steps == 7
    for bad, message in (
        ({"learning_rate": 1}, "unknown training setting"),
        ({"trainable": "wings"}, "trainable"),
        ({"max_steps": "x"}, "integer"),
        ({"image_mode": "tiles"}, "image_mode"),
        ({"trainable": "vision_tower", "vision_lr": "none"}, "vision_lr"),
    ):
        with pytest.raises(ValueError, match=message):
            apply_overrides(get_stage("1.5"), TrainOptions(), bad)
    with pytest.raises(ValueError, match="unknown stage"):
        get_stage("3")
    path.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="mapping"):
        load_yaml_overrides(path)


def test_optimizer_groups(tiny):
    from reference_model.training.forward import set_trainable

    recipe = get_stage("2-si")
    model = LlavaOneVision.from_pretrained("tiny")
    set_trainable(model, recipe.trainable)
    opt = build_optimizer(model, recipe, TrainOptions())
    groups = {g["name"]: g for g in opt.param_groups}
    assert set(groups) == {"vision_tower", "projector+newline+language_model"}
    assert groups["vision_tower"]["lr"] == 2e-6 and groups["projector+newline+language_model"]["lr"] == 1e-5
    vision_ids = {
        id(p) for n, p in model.model.vision_tower.named_parameters() if not n.startswith("post_layernorm.")
    }
    assert {id(p) for p in groups["vision_tower"]["params"]} == vision_ids
    assert all(g["weight_decay"] == 0.0 for g in opt.param_groups)
    set_trainable(model, ("projector",))
    (only,) = build_optimizer(model, get_stage("1"), TrainOptions()).param_groups
    assert only["name"] == "projector" and only["lr"] == 1e-3
    assert {id(p) for p in only["params"]} == {id(p) for p in model.model.multi_modal_projector.parameters()}


# ---------------------------------------------------------------- the synthetic set
def test_synthetic_answers_are_in_the_pixels(tmp_path):
    path = make_synthetic_set(tmp_path, {"single_image": 9, "multi_image": 3, "video": 4})
    records = json.loads(path.read_text())
    assert [r["id"][:5] for r in records].count("singl") == 9 and len(records) == 16

    def dominant(image_path):
        pixels = np.asarray(Image.open(tmp_path / image_path).convert("RGB")).reshape(-1, 3).astype(int)
        bright = pixels[pixels.max(axis=1) > 100]  # the background is dark
        return min(COLOURS, key=lambda c: np.abs(bright.mean(axis=0) - COLOURS[c]).sum())

    for r in records:
        question, answer = r["conversations"][0]["value"], r["conversations"][1]["value"]
        if "video" in r:
            frames = load_video_frames(tmp_path / r["video"], 8).astype(int)
            xs = [np.nonzero(f.max(axis=(0, 2)) > 100)[0].mean() for f in frames]
            if "Which way" in question:
                assert answer == ("right" if xs[-1] > xs[0] else "left")
            else:
                assert (
                    min(
                        COLOURS,
                        key=lambda c: np.abs(
                            frames[0][frames[0].max(axis=2) > 100].mean(0) - COLOURS[c]
                        ).sum(),
                    )
                    == answer
                )
        elif isinstance(r["image"], list):
            which = ["first", "second"].index(question.split(" in the ")[1].split()[0])
            assert dominant(r["image"][which]) == answer
        elif "colour" in question:
            assert dominant(r["image"]) == answer
    letters = json.loads(
        make_synthetic_set(
            tmp_path / "l", {"single_image": 3, "multi_image": 0, "video": 0}, answer_style="letter"
        ).read_text()
    )
    assert all(
        len(r["conversations"][1]["value"]) == 1
        and r["conversations"][0]["value"].endswith("Answer with one letter.")
        for r in letters
    )


def test_export_from_a_gathered_state_dict(tmp_path):
    """The FSDP / DeepSpeed export path (a full state dict gathered from the wrapped training module)
    writes the same loadable HF layout as save_pretrained."""
    from reference_model.training.trainer import _save_sharded_hf

    model = LlavaOneVision.from_pretrained("tiny")
    _save_sharded_hf(model, TrainingModule(model).state_dict(), tmp_path / "gathered")
    model.save_pretrained(tmp_path / "plain")
    a = LlavaOneVision.from_pretrained(str(tmp_path / "gathered")).state_dict()
    b = LlavaOneVision.from_pretrained(str(tmp_path / "plain")).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((tmp_path / "gathered" / "config.json").read_text()) == json.loads(
        (tmp_path / "plain" / "config.json").read_text()
    )


def test_training_and_evaluation_sample_the_same_frames(tiny, tmp_path):
    """The same video gives the same frames to a training sample and to an evaluation video task:
    F indices int(x) for x in linspace(0, N-1, F) (docs/model.md), repeating frames when N < F, checked
    against a full PyAV decode indexed with numpy, for a 6-frame mp4 and a 6-image frame folder."""
    import av

    from ov_media.video import sample_frames

    n = 6
    clip = np.zeros((n, 64, 64, 3), dtype=np.uint8)
    for i in range(n):
        clip[i, :, : 8 * (i + 1)] = 255  # frame i: a white band 8*(i+1) px wide (survives the codec)
    write_video(tmp_path / "v.mp4", clip, 4, codec="mpeg4", qscale=2)
    (tmp_path / "frames").mkdir()
    for i in range(n):
        Image.fromarray(clip[i]).save(tmp_path / "frames" / f"{i:03d}.png")
    with av.open(str(tmp_path / "v.mp4")) as container:
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    for frames in (4, 10):
        indices = [int(x) for x in np.linspace(0, n - 1, frames)]
        recipe = get_stage("2-ov")
        recipe.video_frames = frames
        records = [
            _rec("<image>\nWhere?", "left", video="v.mp4"),
            _rec("<image>\nWhere?", "left", video="frames"),
        ]
        ds = TrainDataset(records, tmp_path, tiny.processor, recipe)
        assert [s.video_frames for s in ds.samples] == [frames, frames]  # F, not min(N, F)
        for i, expected in enumerate((decoded[indices], clip[indices])):
            evaluation = sample_frames(tmp_path / records[i]["video"], frames)
            assert evaluation.indices == indices and np.array_equal(evaluation.frames, expected)
            training = ds[i]["pixel_values_videos"]
            assert torch.equal(training, video_frames(evaluation.frames))
