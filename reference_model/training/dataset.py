"""The training set: LLaVA JSON records indexed once (exact lengths, over-long handling), samples with
pixels and targets, right-padded batches, and batches grouped by modality and length.

The index pass tokenizes every record once with its exact visual-token counts (image sizes come from
file headers; a video gives the recipe's F frames, or with fps sampling the count its container header
gives, sampled as at evaluation, plus the time instruction where the recipe wants it), so lengths are
exact, over-long records are truncated
or skipped before training starts, and the counts are reported.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ov_media.video import FrameSampling, sampled_indices, video_header

from ..anyres import CROP, count_video_tokens
from ..config import TOKENS_PER_CROP
from ..families import time_instruction
from ..image_processing import anyres_crops, multi_image_crop, video_frames
from .conversations import (
    IGNORE_INDEX,
    ConversationRecord,
    ConversationTokenizer,
    RecordError,
    parse_record,
    with_time_instruction,
)
from .media import MediaError, image_size, load_image, load_video_frames, video_frame_count
from .recipes import StageRecipe

log = logging.getLogger(__name__)


def read_records(path: str | Path) -> list[dict]:
    """The records of a LLaVA JSON file (a list) or JSONL file (one object per line)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such training data file")
    text = path.read_text()
    try:
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of records, got {type(data).__name__}")
    return data


@dataclass
class DataStats:
    records: int = 0
    kept: int = 0
    truncated: int = 0
    skipped_overlong: int = 0
    skipped_invalid: int = 0
    skipped_media: int = 0
    by_modality: dict[str, int] = field(default_factory=dict)
    first_errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class IndexedSample:
    record: ConversationRecord
    length: int  # tokens after truncation
    image_sizes: list[tuple[int, int]]
    video_frames: int  # frames used (0: no video)


class TrainDataset(torch.utils.data.Dataset):
    """Samples as dicts: input_ids, labels (1-D), uint8 pixels and the layout tensors of their visuals."""

    def __init__(
        self,
        records: list[dict],
        media_dir: str | Path,
        processor,
        recipe: StageRecipe,
        overlong: str = "skip",
        progress: bool = False,
    ):
        self.media_dir = Path(media_dir).expanduser()
        self.processor = processor
        self.config = processor.config
        self.recipe = recipe
        self.overlong = overlong
        ids = self.config.token_ids
        self.tokenize = ConversationTokenizer(processor.tokenizer, ids.image, ids.video)
        self.pad_id = ids.pad
        self.stats = DataStats(records=len(records))
        self.samples: list[IndexedSample] = []
        self._index(records, progress)

    # ------------------------------------------------------------------ index pass
    def _error(self, kind: str, message: str) -> None:
        setattr(self.stats, kind, getattr(self.stats, kind) + 1)
        if len(self.stats.first_errors) < 5:
            self.stats.first_errors.append(message)

    def _index(self, records: list[dict], progress: bool) -> None:
        from tqdm.auto import tqdm

        for i, raw in enumerate(tqdm(records, desc="indexing", disable=not progress, leave=False)):
            try:
                record = parse_record(raw, i)
                sizes = [image_size(self.media_dir / p) for p in record.images]
                frames = 0
                if record.video is not None:
                    frames, record = self._video_plan(record)
                tokens = self._tokenize(record, sizes, frames)
            except RecordError as exc:
                self._error("skipped_invalid", str(exc))
                continue
            except MediaError as exc:
                self._error(
                    "skipped_media", f"record {raw.get('id', i) if isinstance(raw, dict) else i}: {exc}"
                )
                continue
            length = len(tokens.input_ids)
            if length > self.recipe.max_length:
                if self.overlong == "skip" or not self._truncatable(tokens.input_ids, tokens.labels):
                    self._error(
                        "skipped_overlong",
                        f"record {record.id}: {length} tokens > max_length {self.recipe.max_length}",
                    )
                    continue
                self.stats.truncated += 1
                length = self.recipe.max_length
            self.samples.append(IndexedSample(record, length, sizes, frames))
        self.stats.kept = len(self.samples)
        self.stats.by_modality = dict(Counter(s.record.modality for s in self.samples))
        if self.stats.kept < self.stats.records:
            log.warning(
                "training data: kept %d of %d records (%s)",
                self.stats.kept,
                self.stats.records,
                ", ".join(
                    f"{k} {v}"
                    for k, v in self.stats.to_dict().items()
                    if k.startswith(("skipped", "truncated")) and v
                ),
            )

    @property
    def sampling(self):
        return FrameSampling(self.recipe.video_sampling, self.recipe.video_force_sample)

    def _video_plan(self, record: ConversationRecord) -> tuple[int, ConversationRecord]:
        """(frames the recipe's sampling takes, the record with the time instruction where the recipe
        wants it), from the container header only (no decode). Uniform: F frames whatever N, as at
        evaluation; fps: 1 a second capped at F."""
        path = self.media_dir / record.video
        if self.recipe.video_sampling == "uniform" and not self.recipe.time_instruction:
            video_frame_count(path)  # readable? (no decode)
            return self.recipe.video_frames, record

        header = video_header(path)
        indices, times = sampled_indices(
            header.total_frames, header.fps, self.recipe.video_frames, self.sampling
        )
        if self.recipe.time_instruction:
            if times is None or header.duration is None:
                raise MediaError(f"{path}: no frame rate declared, so the time instruction cannot be written")
            record = with_time_instruction(record, time_instruction(header.duration, times))
        return len(indices), record

    def _truncatable(self, input_ids: list[int], labels: list[int]) -> bool:
        """A cut must not split a visual run (features come whole) and must leave a target."""
        limit = self.recipe.max_length
        ids = self.config.token_ids
        visual_after_cut = any(t in (ids.image, ids.video) for t in input_ids[limit:])
        # labels[k] is predicted at position k - 1, so a target at k < limit survives the cut.
        return not visual_after_cut and any(x != IGNORE_INDEX for x in labels[1:limit])

    def visual_token_counts(self, record: ConversationRecord, sizes: list[tuple[int, int]], frames: int):
        if self.recipe.image_mode == "base":
            image_counts = [TOKENS_PER_CROP] * len(sizes)
        else:
            # Training packs several images with a newline each (TrainingModule), whatever the eval layout.
            image_counts = (
                self.processor.image_token_counts(sizes, multi_image_layout="train") if sizes else []
            )
        video_counts = (
            [
                count_video_tokens(
                    frames,
                    newline_position=self.config.video_newline_position,
                    pool_mode=self.config.video_pool_mode,
                )
            ]
            if record.video is not None
            else []
        )
        return image_counts, video_counts

    def _tokenize(self, record: ConversationRecord, sizes, frames: int):
        image_counts, video_counts = self.visual_token_counts(record, sizes, frames)
        return self.tokenize(record, image_counts, video_counts)

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.samples)

    @property
    def lengths(self) -> list[int]:
        return [s.length for s in self.samples]

    @property
    def modalities(self) -> list[str]:
        return [s.record.modality for s in self.samples]

    def _pixels(self, sample: IndexedSample) -> dict:
        out: dict = {}
        record = sample.record
        if record.images:
            images = [load_image(self.media_dir / p) for p in record.images]
            if [im.size for im in images] != sample.image_sizes:
                raise MediaError(f"record {record.id}: an image changed size since the data was indexed")
            from PIL import Image

            if self.recipe.image_mode == "base":
                # Stage 1: a plain resize of the whole image, one crop, no AnyRes grid and no newline.
                crops = [
                    torch.from_numpy(np.asarray(im.resize((CROP, CROP), Image.BICUBIC)).copy()).permute(
                        2, 0, 1
                    )[None]
                    for im in images
                ]
            elif len(images) > 1 and self.config.multi_image_pad_to_square:
                crops = [multi_image_crop(im) for im in images]
            else:
                crops = [anyres_crops(im, self.config.anyres.grid_pinpoints) for im in images]
            out["pixel_values"] = torch.cat(crops)
            out["image_sizes"] = torch.tensor(sample.image_sizes, dtype=torch.long)
            out["image_num_crops"] = torch.tensor([len(c) for c in crops], dtype=torch.long)
        if record.video is not None:
            frames = video_frames(
                load_video_frames(self.media_dir / record.video, self.recipe.video_frames, self.sampling)
            )
            if len(frames) != sample.video_frames:
                raise MediaError(
                    f"record {record.id}: decoded {len(frames)} frames, indexed {sample.video_frames}"
                )
            out["pixel_values_videos"] = frames
            out["video_num_frames"] = torch.tensor([len(frames)], dtype=torch.long)
        return out

    def __getitem__(self, index: int) -> dict:
        sample = self.samples[index]
        tokens = self._tokenize(sample.record, sample.image_sizes, sample.video_frames)
        input_ids = torch.tensor(tokens.input_ids[: sample.length], dtype=torch.long)
        labels = torch.tensor(tokens.labels[: sample.length], dtype=torch.long)
        return {
            "input_ids": input_ids,
            "labels": labels,
            "index": index,
            "modality": sample.record.modality,
            **self._pixels(sample),
        }


def collate(samples: list[dict], pad_id: int) -> dict:
    """Right-padded ids / labels / attention mask; visuals concatenated with per-sample counts."""
    longest = max(len(s["input_ids"]) for s in samples)
    batch_size = len(samples)
    input_ids = torch.full((batch_size, longest), pad_id, dtype=torch.long)
    labels = torch.full((batch_size, longest), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((batch_size, longest), dtype=torch.long)
    for row, s in enumerate(samples):
        n = len(s["input_ids"])
        input_ids[row, :n], labels[row, :n], attention_mask[row, :n] = s["input_ids"], s["labels"], 1
    batch = {
        "input_ids": input_ids,
        "labels": labels,
        "attention_mask": attention_mask,
        "indices": torch.tensor([s["index"] for s in samples], dtype=torch.long),
    }
    for key, count_key in (("image_sizes", "images_per_sample"), ("video_num_frames", "videos_per_sample")):
        batch[count_key] = torch.tensor([len(s[key]) if key in s else 0 for s in samples], dtype=torch.long)
    for key in ("pixel_values", "image_sizes", "image_num_crops", "pixel_values_videos", "video_num_frames"):
        parts = [s[key] for s in samples if key in s]
        if parts:
            batch[key] = torch.cat(parts)
    return batch


def global_batches(
    lengths: list[int],
    modalities: list[str],
    global_batch: int,
    seed: int,
    epoch: int,
    group_by_length: bool = True,
    group_size: int = 8,
) -> list[list[int]]:
    """One epoch's batches of ``global_batch`` sample indices, a pure function of (seed, epoch).

    Every batch holds one modality. Within a modality, samples are shuffled, then sorted by length
    inside megabatches of ``group_size`` batches (LLaVA's modality-length grouping) so a batch pads
    little. A modality's last partial batch is filled by wrapping around its own shuffled list, so
    every batch is full and the order does not depend on how many processes share a batch. Batch
    order is shuffled across modalities; the batch with the longest sample goes first so a run that
    would run out of memory does so at once.
    """
    rng = np.random.default_rng([seed, epoch])
    lengths_a = np.asarray(lengths)
    batches: list[list[int]] = []
    for modality in sorted(set(modalities)):
        idx = np.array([i for i, m in enumerate(modalities) if m == modality])
        idx = idx[rng.permutation(len(idx))]
        idx = np.resize(idx, -(-len(idx) // global_batch) * global_batch)  # wrap-around fill
        mega = global_batch * group_size
        for start in range(0, len(idx), mega):
            chunk = idx[start : start + mega]
            if group_by_length:
                chunk = chunk[np.argsort(-lengths_a[chunk], kind="stable")]
            batches += [chunk[i : i + global_batch].tolist() for i in range(0, len(chunk), global_batch)]
    batches = [batches[i] for i in rng.permutation(len(batches))]
    if group_by_length and batches:
        longest = max(range(len(batches)), key=lambda b: max(lengths_a[batches[b]]))
        batches.insert(0, batches.pop(longest))
    return batches


def shard(batch: list[int], rank: int, world_size: int) -> list[int]:
    """This process's part of a global batch (contiguous, equal sizes)."""
    per = len(batch) // world_size
    return batch[rank * per : (rank + 1) * per]
