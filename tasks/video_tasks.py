"""Video benchmarks: videomme (no subtitles), mvbench, egoschema (subset), nextqa (mc), perceptiontest (val, mc).

Prompts and scores are lmms-eval 0.7.3's own functions, named by each task's YAML and run through the
same pipeline as lmms-eval (tasks/lmms_task.py). What differs from running lmms-eval, and why:

- The utils modules are executed as private copies (tasks/lmms_isolated.py), never imported as
  `lmms_eval.tasks.<x>.utils`: nextqa's import needs HF_HOME and downloads nltk data, and the
  egoschema and nextqa parsers fall back to the global `random.choice` when no option is found. In the
  copies that fallback draws from random.Random("<task>:<doc id>"): the same letter in every run; such
  records get parse_failed=True and aggregate() reports parse_failure_rate.
  videomme's module reads HF_HOME at import into a global that only its doc_to_visual and subtitle
  prompt use, and calls sys.exit on a missing video in doc_to_visual: neither is ever called here.
- Videos: lmms-eval's doc_to_visual functions are not called (they exit the process or only log when
  a video is missing). load_visuals resolves the same file names itself, relative to the task's data
  directory (`--data DIR`: DIR/<task>/..., samples: the samples cache) or, for hub rows, to lmms-eval's
  video cache $HF_HOME/<dataset_kwargs.cache_dir> (read when called), and decodes the frames
  ov_media.video.sample_frames picks: F uniformly spaced ones, or with LLaVA-Video's fps sampling one a
  second capped at F (MVBench's episodic_reasoning: a folder of frames read as a 3 fps video, always the
  linspace, tasks/video_sources.py). video_header(doc) reads N and the fps without decoding (the planner).
- Prompts: ``doc_to_text(doc, prompt_model)`` (the model's lmms-eval name, e.g. llava_vid for LLaVA-Video) picks
  the task YAML's lmms_eval_specific_kwargs entry of that model where there is one, as lmms-eval does. A missing or undecodable video is a MediaError for that doc;
  media_present() is the same lookup without decoding (the preflight).
- Hub layout (tasks/hub_layout.py reads these class attributes): metadata_files (the README config's
  data files), media_patterns / archive_patterns (what `ov-bench fetch` downloads and unpacks) and
  extra_patterns (fetched only with --include-extra).
- egoschema: lmms-eval's `egoschema` task scores the full test set by posting a submission to a web
  server (answers are not public). ov-bench's egoschema is lmms-eval's `egoschema_subset` (500 questions
  with public answers, scored offline, metric `score` on a 0-1 scale); published full-set numbers
  (docs/model.md s. 5) are not directly comparable. Records keep lmms-eval's `submission` entry; the
  full test runs by name as egoschema_test (tasks/server_tasks.py), which writes the submission file.
- mvbench is lmms-eval's group of 20 tasks (one hub config each). aggregate() returns mvbench_accuracy
  over all records (lmms-eval's aggregation applied to the pooled records; with the full data, 200
  questions per task, this equals the mean of the task scores) and "<lmms task>/mvbench_accuracy" per task.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from ov_media.video import UNIFORM, sample_frames, video_header
from tasks.base import MEDIA_ROOT_KEY, HubDataset, MediaError, Visuals
from tasks.lmms import _FunctionTag, call, load_task_yaml
from tasks.lmms_isolated import load_private_utils, seeded_fallback
from tasks.lmms_task import LmmsTask, jsonable
from tasks.registry import register
from tasks.samples import video_samples
from tasks.video_sources import sample_frame_folder


class VideoTask(LmmsTask):
    """An lmms-eval video task: private utils copy, video files resolved here, seeded fallbacks."""

    modality = "video"

    # ---- lmms-eval config -----------------------------------------------------------------------

    @property
    def dataset(self) -> HubDataset:  # type: ignore[override]
        c = self.lmms_eval_config
        split = c.get("test_split") or c.get("validation_split")
        revision = self.revision or (c.get("dataset_kwargs") or {}).get("revision")
        return HubDataset(c["dataset_path"], c.get("dataset_name"), split, revision)

    def utils(self) -> ModuleType:
        return load_private_utils(self.lmms_eval_dir)

    def _resolve(self, ref: Any) -> Any:
        if isinstance(ref, _FunctionTag):
            module, _, attr = ref.rpartition(".")
            return getattr(load_private_utils(self.lmms_eval_dir, module or "utils"), attr)
        return ref

    # ---- media ----------------------------------------------------------------------------------

    def video_candidates(self, doc: dict) -> list[str]:
        """Paths lmms-eval's doc_to_visual tries, in its order, relative to the media root."""
        raise NotImplementedError

    def media_root(self, doc: dict) -> Path:
        root = doc.get(MEDIA_ROOT_KEY)
        if root:
            return Path(root)
        hf_home = os.environ.get("HF_HOME") or "~/.cache/huggingface"
        return Path(hf_home).expanduser() / self.lmms_eval_config["dataset_kwargs"]["cache_dir"]

    def is_frame_folder(self, doc: dict) -> bool:
        """Whether the doc's video is a folder of frames (MVBench's episodic_reasoning)."""
        return False

    def video_path(self, doc: dict) -> Path:
        root = self.media_root(doc)
        tried = [root / rel for rel in self.video_candidates(doc)]
        folder = self.is_frame_folder(doc)
        for path in tried:
            if path.is_dir() if folder else path.is_file():
                return path
        kind = "frame folder" if folder else "video"
        raise MediaError(
            f"{self.name} doc {self.doc_id(doc)}: {kind} not found (tried {', '.join(map(str, tried))})"
        )

    def video_header(self, doc: dict) -> Any:
        """N and fps of the doc's video from the container header (a frame folder: its count, 3 fps)."""
        return video_header(self.video_path(doc))

    def media_present(self, doc: dict) -> None:
        """Preflight: MediaError if the video (file or frame folder) is not there; a stat, no decode."""
        self.video_path(doc)

    def load_visuals(self, doc: dict, frames: int = 32, sampling: Any = None) -> Visuals:
        """The doc's video: ``frames`` frames (the cap, with fps sampling) chosen by ``sampling``
        (an ov_media.video.FrameSampling; None: uniform)."""
        sampling = sampling or UNIFORM
        path = self.video_path(doc)
        try:
            if self.is_frame_folder(doc):
                clip = sample_frame_folder(path, frames, sampling_mode=sampling.mode)
            else:
                clip = sample_frames(path, frames, sampling)
        except MediaError as e:
            raise MediaError(f"{self.name} doc {self.doc_id(doc)}: {e}") from None
        return Visuals(images=[], video=clip)

    def image_sizes(self, doc: dict) -> list[tuple[int, int]]:
        return []

    # ---- scoring --------------------------------------------------------------------------------

    def fallback_seed(self, doc: dict) -> str:
        return f"{self.name}:{self.doc_id(doc)}"

    def score(self, doc: dict, response: str) -> dict:
        with seeded_fallback(self.fallback_seed(doc)) as fallback:
            record = super().score(doc, response)
        if fallback.draws:
            record["parse_failed"] = True
            record["fallback_choice"] = jsonable(fallback.choices)
        return record

    def summarize(self, doc: dict, response: str, filtered: Any, results: dict) -> tuple[float, Any, bool]:
        """The per-sample score is lmms-eval's aggregation of this one record (its metric scale)."""
        parsed, failed = self.parse(doc, filtered, results)
        return self._aggregate_one(results), parsed, failed

    def parse(self, doc: dict, filtered: Any, results: dict) -> tuple[str | None, bool]:
        """(parsed option letter or None, parse failed) from lmms-eval's per-sample results."""
        raise NotImplementedError

    def _aggregate_one(self, results: dict) -> float:
        values = jsonable(results)
        for name, _, agg, _ in self._metrics:
            if name == self.main_metric:
                return float(self._call_aggregation(agg, [values[name]]))
        raise KeyError(f"{self.lmms_eval_name} has no metric {self.main_metric}")

    def generate_samples(self, out_dir: Path) -> None:
        getattr(video_samples, self.name)(out_dir)


def _letter(index: int) -> str | None:
    return "ABCDEFGH"[index] if 0 <= index < 8 else None


def _with_extensions(stem: str, extensions: tuple[str, ...]) -> list[str]:
    return [f"{stem}.{ext}" for ext in extensions]


@register
class VideoMME(VideoTask):
    name = "videomme"
    lmms_eval_name = "videomme"
    main_metric = "videomme_perception_score"
    lmms_eval_dir = "videomme"
    lmms_eval_yaml = "videomme.yaml"  # no subtitles (videomme_w_subtitle.yaml adds them)
    id_column = "question_id"
    samples_version = 4  # 3: a 40 s clip (fps sampling differs from uniform); 4: real-format subtitles
    paper_row = "Video-MME (without subtitles)"
    scoring = "local"
    real_docs = 2700
    # hub layout (tasks/hub_layout.py): 20 video archives with members data/<videoID>.mp4
    metadata_files = "videomme/{split}-*"
    readme_config = "videomme"
    media_patterns = ("videos_chunked_*.zip",)
    archive_patterns = ("videos_chunked_*.zip",)
    extra_patterns = ("subtitle.zip",)

    score_max = 100.0  # lmms-eval's per-sample aggregation is in percent

    def stratum(self, doc: dict) -> str:
        return str(doc["duration"])

    def subscores(self, record: dict) -> dict[str, str]:
        return {"duration": str(record["lmms"]["videomme_perception_score"]["duration"])}

    def video_candidates(self, doc: dict) -> list[str]:
        return _with_extensions(f"data/{doc['videoID']}", ("mp4", "MP4", "mkv"))

    def parse(self, doc: dict, filtered: Any, results: dict) -> tuple[str | None, bool]:
        pred = results["videomme_perception_score"]["pred_answer"]  # from lmms-eval's extract_mcq_answer
        return (pred or None), not pred


@register
class MVBench(VideoTask):
    name = "mvbench"
    lmms_eval_name = "mvbench"
    main_metric = "mvbench_accuracy"
    lmms_eval_dir = "mvbench"
    lmms_eval_yaml = "mvbench_action_antonym.yaml"  # generation_kwargs and metrics; all 20 share the template
    samples_version = 2
    paper_row = "MVBench"
    scoring = "local"
    real_docs = 4000  # 20 tasks x 200 questions
    # hub layout at revision `video`: json/<config>.json declared in the README, videos unpacked in
    # the DATA_LIST folders (clevrer and star possibly under data0613/)
    metadata_files = "json/{config}.json"
    FRAME_FOLDER_CONFIGS = ("episodic_reasoning",)  # folders of frames extracted at 3 fps
    ALTERNATIVE_ROOT = "data0613"

    CONFIG_KEY = "_config"  # the hub config (lmms-eval sub task) a row came from
    INDEX_KEY = "_index"  # the row's index within its config (lmms-eval's doc_id)

    @functools.cached_property
    def subtasks(self) -> dict[str, dict]:
        """hub config -> the lmms-eval YAML of its task (mvbench.yaml lists them)."""
        group = load_task_yaml(self.lmms_eval_dir, "mvbench.yaml")
        out = {}
        for task in group["task"]:
            config = load_task_yaml(self.lmms_eval_dir, f"{task}.yaml")
            out[config["dataset_name"]] = config
        return out

    @property
    def dataset(self) -> HubDataset:  # type: ignore[override]
        base = super().dataset
        return HubDataset(base.repo, None, base.split, base.revision)

    def hub_datasets(self) -> list[HubDataset]:
        base = super().dataset
        return [HubDataset(base.repo, config, base.split, base.revision) for config in sorted(self.subtasks)]

    def prepare_rows(self, rows: list[dict], dataset: HubDataset) -> list[dict]:
        for i, row in enumerate(rows):
            row[self.CONFIG_KEY] = dataset.config
            row[self.INDEX_KEY] = i
        return rows

    def doc_id(self, doc: dict) -> str:
        return f"{doc[self.CONFIG_KEY]}/{doc[self.INDEX_KEY]}"

    score_max = 100.0  # lmms-eval's per-sample aggregation is in percent

    def stratum(self, doc: dict) -> str:
        return str(doc[self.CONFIG_KEY])

    def subscores(self, record: dict) -> dict[str, str]:
        return {"subtask": str(record["subtask"])}

    def kwargs_for(self, doc: dict) -> dict[str, Any]:
        """The lmms_eval_specific_kwargs of the doc's own lmms-eval task (merged as lmms-eval does)."""
        kwargs = dict(self.subtasks[doc[self.CONFIG_KEY]]["lmms_eval_specific_kwargs"])
        kwargs.update(kwargs.get("default", {}))
        return kwargs

    def doc_to_text(self, doc: dict, prompt_model: str | None = None) -> str:
        # MVBench's YAMLs have no model-specific entries: every model gets the default prompt
        return call(self.lmms_fn("doc_to_text"), doc, self.kwargs_for(doc))

    @property
    def media_patterns(self) -> tuple[str, ...]:
        folders = sorted(set(self.utils().DATA_LIST.values()))
        alternative = [f"{self.ALTERNATIVE_ROOT}/{f}/*" for f in folders if self._has_alternative(f)]
        return tuple(f"{f}/*" for f in folders) + tuple(alternative)

    def _has_alternative(self, folder: str) -> bool:
        # lmms-eval means clevrer and star to be looked up under data0613/ as well (its check compares
        # os.path.basename of the folder, which never equals them; the intent is followed here)
        return folder.split("/")[0] in ("clevrer", "star")

    def is_frame_folder(self, doc: dict) -> bool:
        return doc[self.CONFIG_KEY] in self.FRAME_FOLDER_CONFIGS

    def video_candidates(self, doc: dict) -> list[str]:
        folder = self.utils().DATA_LIST[doc[self.CONFIG_KEY]]
        out = [f"{folder}/{doc['video']}"]
        if self._has_alternative(folder):
            out.append(f"{self.ALTERNATIVE_ROOT}/{folder}/{doc['video']}")
        return out

    def parse(self, doc: dict, filtered: Any, results: dict) -> tuple[str | None, bool]:
        # mcq_acc(letter, response) is 1 exactly when lmms-eval reads `letter` from the response
        mcq_acc = self.utils().mcq_acc
        pred = results["mvbench_accuracy"]["pred_answer"]
        for i in range(len(doc["candidates"])):
            letter = _letter(i)
            if call(mcq_acc, letter, pred):
                return letter, False
        return None, True

    def aggregate(self, records: list[dict]) -> dict[str, float]:
        out = super().aggregate(records)
        agg = self._metrics[0][2]
        by_config: dict[str, list] = {}
        for r in records:
            if "mvbench_accuracy" in r.get("lmms", {}):
                by_config.setdefault(r["subtask"], []).append(r["lmms"]["mvbench_accuracy"])
        for config, values in sorted(by_config.items()):
            out[f"mvbench_{config}/mvbench_accuracy"] = float(self._call_aggregation(agg, values))
        return out

    def score(self, doc: dict, response: str) -> dict:
        record = super().score(doc, response)
        record["subtask"] = doc[self.CONFIG_KEY]
        return record

    def generate_samples(self, out_dir: Path) -> None:
        data_list = {config: self.utils().DATA_LIST[config] for config in self.subtasks}
        video_samples.mvbench(out_dir, data_list)


@register
class EgoSchema(VideoTask):
    name = "egoschema"
    lmms_eval_name = "egoschema_subset"
    main_metric = "score"
    lmms_eval_dir = "egoschema"
    lmms_eval_yaml = "egoschema_subset.yaml"
    id_column = "question_idx"
    samples_version = 3  # 3: the GENERATION config (the full test, egoschema_test) beside Subset
    scoring = "local"
    real_docs = 500
    layout_verified = False  # the zip members' prefix is inferred from where lmms-eval looks
    # lmms-eval unzips every *.zip of the repo; members videos/<video_idx>.mp4
    media_patterns = ("*.zip",)
    archive_patterns = ("*.zip",)

    def video_candidates(self, doc: dict) -> list[str]:
        return _with_extensions(f"videos/{doc['video_idx']}", ("mp4", "MP4"))

    def parse(self, doc: dict, filtered: Any, results: dict) -> tuple[str | None, bool]:
        # lmms-eval's parser always yields a letter (falling back to a seeded random one, see score())
        return _letter(int(results["score"]["pred"])), False


@register
class NExTQA(VideoTask):
    name = "nextqa"
    lmms_eval_name = "nextqa_mc_test"
    main_metric = "exact_match"
    lmms_eval_dir = "nextqa"
    lmms_eval_yaml = "nextqa_mc_test.yaml"
    samples_version = 2
    paper_row = "NExT-QA (mc)"
    scoring = "local"
    real_docs = 8564
    layout_verified = False  # the zip members' prefix is inferred from where lmms-eval looks
    media_patterns = ("videos.zip",)  # members NExTVideo/<video>.mp4
    archive_patterns = ("videos.zip",)

    def doc_id(self, doc: dict) -> str:
        return f"{doc['video']}_{doc['qid']}"  # qid numbers the questions of one video

    def stratum(self, doc: dict) -> str:
        return str(doc["type"])

    def video_candidates(self, doc: dict) -> list[str]:
        return _with_extensions(f"NExTVideo/{doc['video']}", ("mp4", "MP4"))

    def parse(self, doc: dict, filtered: Any, results: dict) -> tuple[str | None, bool]:
        # nextqa_mc_process_results keeps only exact_match: rerun its parser (same seed, same draw)
        utils = self.utils()
        index2ans, all_choices = call(utils.get_multi_choice_info, doc)
        with seeded_fallback(self.fallback_seed(doc)):
            letter = call(utils.parse_multi_choice_response, filtered.strip(), all_choices, index2ans)
        return letter, False


@register
class PerceptionTest(VideoTask):
    name = "perceptiontest"
    lmms_eval_name = "perceptiontest_val_mc"
    main_metric = "accuracy"
    lmms_eval_dir = "perceptiontest/val"
    lmms_eval_yaml = "perceptiontest_mc.yaml"
    samples_version = 2
    paper_row = "PerceptionTest (val)"
    scoring = "local"
    real_docs = 19140
    layout_verified = False  # the zip members' prefix is inferred from where lmms-eval looks
    media_patterns = ("videos_chunked_*.zip",)  # members videos/<video_name>.mp4
    archive_patterns = ("videos_chunked_*.zip",)
    extra_patterns = ("valid_audios.zip",)

    def doc_id(self, doc: dict) -> str:
        return f"{doc['video_name']}/{doc['question_id']}"  # question ids number the questions of one video

    def stratum(self, doc: dict) -> str:
        return str(doc["area"])

    def video_candidates(self, doc: dict) -> list[str]:
        return _with_extensions(f"videos/{doc['video_name']}", ("mp4", "MP4"))

    def parse(self, doc: dict, filtered: Any, results: dict) -> tuple[str | None, bool]:
        index = int(results["accuracy"]["pred_id"])
        return _letter(index), index < 0
