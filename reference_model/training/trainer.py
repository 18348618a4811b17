"""The training loop on accelerate: one process or many (DDP; FSDP / DeepSpeed via an accelerate
config file), mixed precision, gradient accumulation, checkpoints that resume exactly.

Equivalence across batch layouts: an optimizer step's samples depend only on the global batch
(per-device batch x processes x accumulation steps): ``dataset.global_batches`` is a pure function of
seed and epoch, each step's batch is cut into accumulation micro-batches and each of those into one
contiguous slice per process. The loss is normalised by the target tokens of the whole step (all
processes, all micro-batches), so one process with batch 4, two with batch 2, or one with batch 2
and 2 accumulation steps compute the same gradient up to float rounding, and a checkpoint resumes
under any layout of the same global batch.

Output directory::

    OUTPUT/train_log.jsonl            one JSON object per event: start, step, checkpoint, end
    OUTPUT/checkpoint-<step>/         HF layout (config.json, model.safetensors, tokenizer) +
        trainer_state.json            step, epoch, position in the epoch's batch order, settings
        training_state/               accelerate save_state: optimizer, scheduler, RNG, weights
    OUTPUT/final/                     HF layout of the last step's model
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checkpoints import hf_config_dict
from ..modeling import LlavaOneVision
from .dataset import TrainDataset, collate, global_batches, read_records, shard
from .forward import TrainingModule, dataset_loss, enable_gradient_checkpointing, part_of, set_trainable
from .recipes import PARTS, StageRecipe, TrainOptions, to_dict, validate
from .synthetic import ensure_synthetic_set

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"
LOG_FILE = "train_log.jsonl"
# Settings that fix the batch order and the schedule: a resume must match them.
_RESUME_KEYS = ("seed", "global_batch", "num_samples", "total_steps", "group_by_length", "group_size")


@dataclass
class TrainResult:
    output_dir: Path
    final_dir: Path
    global_step: int
    losses: list[float] = field(default_factory=list)  # per optimizer step run by this call
    steps: list[int] = field(default_factory=list)
    data_stats: dict = field(default_factory=dict)
    checkpoints: list[Path] = field(default_factory=list)
    param_groups: list[dict] = field(default_factory=list)  # name, lr (last), initial_lr, num_parameters


def resolve_data(
    data: str | Path, recipe: StageRecipe, media_dir: str | Path | None = None
) -> tuple[Path, Path]:
    """``samples`` (the synthetic set for the stage's modalities) or a LLaVA JSON path -> (json, media dir)."""
    if str(data) == "samples":
        path = ensure_synthetic_set(recipe.modalities)
    else:
        path = Path(data).expanduser()
        if path.is_dir():
            candidates = sorted(path.glob("*.json")) + sorted(path.glob("*.jsonl"))
            if len(candidates) != 1:
                raise ValueError(
                    f"{path}: expected one .json/.jsonl file in the directory, found {len(candidates)}"
                )
            path = candidates[0]
        if not path.is_file():
            raise FileNotFoundError(
                f"{data}: no such training data (a LLaVA JSON file, its directory, or 'samples')"
            )
    media = Path(media_dir).expanduser() if media_dir is not None else path.parent
    if not media.is_dir():
        raise FileNotFoundError(f"{media}: no such media directory")
    return path, media


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The highest-step complete checkpoint (one with trainer_state.json) in ``output_dir``."""
    found = []
    for d in Path(output_dir).glob("checkpoint-*"):
        step = d.name.removeprefix("checkpoint-")
        if step.isdigit() and (d / STATE_FILE).is_file():
            found.append((int(step), d))
    return max(found)[1] if found else None


def _resolve_resume(resume: str | Path | None, output_dir: Path) -> Path | None:
    if resume is None:
        return None
    if str(resume) == "auto":
        return latest_checkpoint(output_dir)  # nothing yet: a fresh start
    path = Path(resume).expanduser()
    if not (path / STATE_FILE).is_file():
        latest = latest_checkpoint(path) if path.is_dir() else None
        if latest is None:
            raise FileNotFoundError(
                f"{resume}: not a checkpoint directory (no {STATE_FILE}) nor a run holding one"
            )
        path = latest
    return path


def build_optimizer(model, recipe: StageRecipe, options: TrainOptions):
    """AdamW over the trainable parameters; the vision tower in its own group at ``vision_lr``."""
    import torch

    groups: dict[str, dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        part = part_of(name)
        key = "vision_tower" if part == "vision_tower" else "main"
        group = groups.setdefault(key, {"params": [], "parts": []})
        group["params"].append(param)
        if part not in group["parts"]:
            group["parts"].append(part)
    param_groups = []
    for key, group in groups.items():
        lr = recipe.vision_lr if key == "vision_tower" else recipe.lr
        name = "+".join(sorted(group["parts"], key=PARTS.index))
        param_groups.append(
            {"params": group["params"], "lr": lr, "name": name, "weight_decay": recipe.weight_decay}
        )
    if not param_groups:
        raise ValueError("no trainable parameters")
    # The fused kernel updates all tensors in one pass: ~5x faster than foreach on the CPU at 0.5B width,
    # where the 136M-parameter embedding dominates the update.
    fused = all(
        p.device.type in ("cpu", "cuda") and p.is_floating_point() for g in param_groups for p in g["params"]
    )
    return torch.optim.AdamW(
        param_groups,
        lr=recipe.lr,
        betas=(options.adam_beta1, options.adam_beta2),
        eps=options.adam_epsilon,
        weight_decay=recipe.weight_decay,
        fused=fused or None,
    )


def build_scheduler(optimizer, recipe: StageRecipe, total_steps: int):
    """Cosine (or linear / constant) with ``ceil(total * warmup_ratio)`` warmup steps, as HF's Trainer."""
    from transformers import get_scheduler

    name = "constant_with_warmup" if recipe.lr_scheduler == "constant" else recipe.lr_scheduler
    warmup = math.ceil(total_steps * recipe.warmup_ratio)
    return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=total_steps)


class _JsonlLog:
    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled

    def keep_until(self, step: int) -> None:
        """On resume: drop step records past the checkpoint (they are about to be redone)."""
        if not self.enabled or not self.path.is_file():
            return
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("step", 0) <= step:
                kept.append(line)
        self.path.write_text("".join(k + "\n" for k in kept))

    def write(self, record: dict) -> None:
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")


def _to_device(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) if hasattr(v, "to") else v for k, v in batch.items()}


def _save_sharded_hf(model, state: dict, path: Path) -> None:
    """HF layout from a gathered state dict (FSDP / DeepSpeed, where the wrapped model holds shards)."""
    from safetensors.torch import save_file

    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(hf_config_dict(model.config), indent=2))
    weights = {
        k.removeprefix("model."): v.detach().contiguous().cpu()
        for k, v in state.items()
        if k.startswith("model.")
    }
    if model.config.text.tie_word_embeddings:
        weights.pop("lm_head.weight", None)
    save_file(weights, str(path / "model.safetensors"), metadata={"format": "pt"})
    if model.tokenizer is not None:
        model.tokenizer.save_pretrained(str(path))


def export_model(accelerator, wrapper, path: Path) -> None:
    """Write the model in the HF layout (loadable by LlavaOneVision.from_pretrained and ov-bench run)."""
    from accelerate.utils import DistributedType

    sharded = accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)
    state = accelerator.get_state_dict(wrapper) if sharded else None  # a collective: every rank calls it
    if accelerator.is_main_process:
        model = accelerator.unwrap_model(wrapper).model
        if sharded:
            _save_sharded_hf(model, state, path)
        else:
            model.save_pretrained(path)
    accelerator.wait_for_everyone()


def _forget_previous_run_state() -> None:
    """accelerate keeps its settings in process-wide singletons and refuses a second Accelerator with other
    settings (e.g. another mixed precision). In a single process with no process group, an earlier
    ``train`` call's state is stale: clear it so ``train`` can be called again with any settings."""
    import torch.distributed as dist
    from accelerate.state import AcceleratorState

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 and not (dist.is_available() and dist.is_initialized()):
        reset = getattr(AcceleratorState, "_reset_state", None)  # private, hence the guard
        if reset is not None:
            reset(reset_partial_state=True)


@dataclass
class _Run:
    """What the training loop reads and updates: the prepared model and optimizer, the batch layout,
    the position in the data (step, epoch, batch in the epoch), the log and the result."""

    accelerator: Any
    wrapper: Any  # the accelerate-prepared TrainingModule
    optimizer: Any
    scheduler: Any
    params: list  # the trainable parameters (gradient clipping)
    dataset: Any
    recipe: StageRecipe
    options: TrainOptions
    model_spec: str
    output_dir: Path
    jsonl: _JsonlLog
    result: TrainResult
    run_info: dict  # the settings a resume must match (_RESUME_KEYS) and the layout
    batch_args: dict  # global_batches' arguments besides the epoch
    micro_size: int  # one micro-batch across all processes
    total_steps: int
    pad_id: int
    step: int = 0
    epoch: int = 0
    batch_pos: int = 0  # optimizer steps already taken in this epoch

    @property
    def accum(self) -> int:
        return self.options.gradient_accumulation_steps

    @property
    def world(self) -> int:
        return self.accelerator.num_processes

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process


def train(
    model_spec: str,
    data: str | Path,
    output_dir: str | Path,
    recipe: StageRecipe,
    options: TrainOptions | None = None,
    *,
    media_dir: str | Path | None = None,
    resume: str | Path | None = None,
    cpu: bool = False,
) -> TrainResult:
    """Train ``model_spec`` (a preset or a checkpoint directory) on ``data`` with ``recipe``.

    ``resume``: a checkpoint directory, a run directory (its latest checkpoint) or ``"auto"`` (the
    latest checkpoint in ``output_dir`` if there is one)."""
    from accelerate.utils import set_seed

    options = options or TrainOptions()
    validate(recipe, options)
    output_dir = Path(output_dir).expanduser()
    json_path, media = resolve_data(data, recipe, media_dir)
    records = read_records(json_path)
    resume_dir = _resolve_resume(resume, output_dir)
    if resume is None and latest_checkpoint(output_dir) is not None:
        raise ValueError(
            f"{output_dir} holds checkpoints of an earlier run: pass --resume auto to continue it, "
            "or choose another output directory"
        )

    accelerator = _make_accelerator(options, cpu)
    options = _with_global_batch(options, accelerator.num_processes)
    set_seed(options.seed)
    jsonl = _open_log(output_dir, accelerator.is_main_process, fresh=resume_dir is None)
    model, trainable = _load_model(model_spec, recipe, options)
    dataset = TrainDataset(
        records,
        media,
        model.processor,
        recipe,
        options.overlong,
        progress=options.progress and accelerator.is_main_process,
    )
    if len(dataset) == 0:
        raise ValueError(f"{json_path}: no trainable records ({dataset.stats.to_dict()})")
    run = _prepare_run(accelerator, model, dataset, recipe, options, model_spec, output_dir, jsonl)
    if resume_dir is not None:
        _resume(run, resume_dir)
    _log_start(run, json_path, trainable, resume_dir)
    _train_steps(run)
    return _finish(run)


def _make_accelerator(options: TrainOptions, cpu: bool):
    import torch
    from accelerate import Accelerator

    if not cpu and int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        # Launched as several processes (accelerate launch --multi_gpu / torchrun) on a machine without
        # GPUs: accelerate only forms a CPU process group (gloo) when told to use the CPU; otherwise each
        # process would silently train alone on the whole batch.
        cpu = True
    _forget_previous_run_state()
    return Accelerator(mixed_precision=options.mixed_precision, cpu=cpu, step_scheduler_with_optimizer=False)


def _with_global_batch(options: TrainOptions, processes: int) -> TrainOptions:
    """With a global batch set, the accumulation that makes it from the processes accelerate started and
    the per-device batch (a ValueError when it does not divide)."""
    if options.global_batch_size is None:
        return options
    from .batch_layout import split_global_batch

    layout = split_global_batch(
        options.global_batch_size, processes, per_device=options.per_device_batch_size
    )
    return dataclasses.replace(options, gradient_accumulation_steps=layout.accumulation)


def _open_log(output_dir: Path, main: bool, fresh: bool) -> _JsonlLog:
    if main:
        output_dir.mkdir(parents=True, exist_ok=True)
    jsonl = _JsonlLog(output_dir / LOG_FILE, main)
    if main and fresh and jsonl.path.is_file():
        jsonl.path.unlink()  # a fresh start: an earlier log without checkpoints describes nothing kept
    return jsonl


def apply_video_layout(model, recipe: StageRecipe) -> None:
    """The recipe's video layout on the model's config (None keeps the checkpoint's); the dataset counts
    and the model packs video tokens by it, and a saved checkpoint records it."""
    if recipe.video_newline_position is not None:
        model.config.video_newline_position = recipe.video_newline_position
    if recipe.video_pool_mode is not None:
        model.config.video_pool_mode = recipe.video_pool_mode
    if recipe.video_sampling == "fps" or recipe.time_instruction:
        # Recorded as LLaVA-Video's config.json records them, so the saved checkpoint is detected as
        # LLaVA-Video and gets its evaluated defaults (families.py).
        model.config.training_switches = {
            "add_time_instruction": recipe.time_instruction,
            "force_sample": recipe.video_force_sample,
        }


def _load_model(model_spec: str, recipe: StageRecipe, options: TrainOptions):
    """The model in training mode, with the recipe's trainable parts and threshold; (model, trainable)."""
    model = LlavaOneVision.from_pretrained(
        model_spec,
        dtype="float32" if options.dtype == "auto" else options.dtype,
        device="cpu",
        device_map=options.device_map,
        max_memory=options.max_memory,
        offload_folder=options.offload_folder,
    )
    if model.processor is None:
        raise ValueError(f"{model_spec}: the model has no tokenizer, so conversations cannot be tokenized")
    if recipe.image_mode == "anyres":
        model.set_max_grid_tokens(recipe.max_grid_tokens)
    apply_video_layout(model, recipe)
    trainable = set_trainable(model, recipe.trainable)
    if options.gradient_checkpointing:
        enable_gradient_checkpointing(model)
    model.train()
    return model, trainable


def _prepare_run(
    accelerator,
    model,
    dataset,
    recipe: StageRecipe,
    options: TrainOptions,
    model_spec: str,
    output_dir: Path,
    jsonl: _JsonlLog,
) -> _Run:
    """Batch layout, schedule length, optimizer and scheduler, all prepared by accelerate."""
    world, accum = accelerator.num_processes, options.gradient_accumulation_steps
    micro_size = options.per_device_batch_size * world
    global_batch = micro_size * accum  # one optimizer step
    batch_args = dict(
        global_batch=global_batch,
        seed=options.seed,
        group_by_length=options.group_by_length,
        group_size=options.group_size,
    )
    steps_per_epoch = len(global_batches(dataset.lengths, dataset.modalities, epoch=0, **batch_args))
    total_steps = options.max_steps or steps_per_epoch * recipe.num_epochs

    optimizer = build_optimizer(model, recipe, options)
    scheduler = build_scheduler(optimizer, recipe, total_steps)
    wrapper, optimizer, scheduler = accelerator.prepare(
        TrainingModule(model, recipe.image_mode), optimizer, scheduler
    )
    run_info = {
        "seed": options.seed,
        "global_batch": global_batch,
        "per_device_batch_size": options.per_device_batch_size,
        "world_size": world,
        "gradient_accumulation_steps": accum,
        "num_samples": len(dataset),
        "total_steps": total_steps,
        "group_by_length": options.group_by_length,
        "group_size": options.group_size,
    }
    result = TrainResult(output_dir, output_dir / "final", 0, data_stats=dataset.stats.to_dict())
    return _Run(
        accelerator,
        wrapper,
        optimizer,
        scheduler,
        [p for p in wrapper.parameters() if p.requires_grad],
        dataset,
        recipe,
        options,
        model_spec,
        output_dir,
        jsonl,
        result,
        run_info,
        batch_args,
        micro_size,
        total_steps,
        model.config.token_ids.pad,
    )


def _resume(run: _Run, resume_dir: Path) -> None:
    """Optimizer, scheduler, RNG and weights from a checkpoint, and the position in the data."""
    saved = json.loads((resume_dir / STATE_FILE).read_text())
    diff = [k for k in _RESUME_KEYS if saved.get("run", {}).get(k) != run.run_info[k]]
    if diff:
        pairs = ", ".join(
            f"{k}: checkpoint {saved.get('run', {}).get(k)} vs now {run.run_info[k]}" for k in diff
        )
        raise ValueError(f"{resume_dir}: cannot resume exactly, settings differ ({pairs})")
    run.accelerator.load_state(str(resume_dir / "training_state"))
    run.step, run.epoch, run.batch_pos = saved["global_step"], saved["epoch"], saved["batch_in_epoch"]
    run.jsonl.keep_until(run.step)
    log.info(
        "resumed from %s at step %d (epoch %d, batch %d)", resume_dir, run.step, run.epoch, run.batch_pos
    )


def _log_start(run: _Run, json_path: Path, trainable: Any, resume_dir: Path | None) -> None:
    accelerator, dataset, options = run.accelerator, run.dataset, run.options
    run.jsonl.write(
        {
            "event": "start",
            "step": run.step,
            "model": run.model_spec,
            "data": str(json_path),
            "stage": run.recipe.name,
            "world_size": run.world,
            "distributed_type": str(accelerator.distributed_type).split(".")[-1],
            "device": str(accelerator.device),
            "mixed_precision": str(accelerator.mixed_precision),
            "run": run.run_info,
            "trainable_parameters": trainable,
            "data_stats": dataset.stats.to_dict(),
            "resumed_from": str(resume_dir) if resume_dir else None,
            **to_dict(run.recipe, options),
        }
    )
    log.info(
        "stage %s: %d samples (%s), %d steps of %d x %d x %d processes",
        run.recipe.name,
        len(dataset),
        dataset.stats.by_modality,
        run.total_steps,
        options.per_device_batch_size,
        run.accum,
        run.world,
    )


def _micro_batches(run: _Run, step_batches: list[list[int]]):
    """This process's micro-batches, ``accum`` per step, in order."""
    import functools

    import torch

    rank, size = run.accelerator.process_index, run.micro_size
    mine = [
        shard(b[k * size : (k + 1) * size], rank, run.world) for b in step_batches for k in range(run.accum)
    ]
    return iter(
        torch.utils.data.DataLoader(
            run.dataset,
            batch_sampler=mine,
            collate_fn=functools.partial(collate, pad_id=run.pad_id),
            num_workers=run.options.num_workers,
        )
    )


def _epoch_batches(run: _Run) -> list[list[int]]:
    return global_batches(run.dataset.lengths, run.dataset.modalities, epoch=run.epoch, **run.batch_args)


def _optimizer_step(run: _Run, micro: list[dict], start: float) -> dict:
    """Forward and backward over one step's micro-batches, clip, step; the step's log record (its time
    counts from ``start``, before the micro-batches were loaded)."""
    import torch

    accelerator, wrapper, optimizer = run.accelerator, run.wrapper, run.optimizer
    counts = torch.tensor(
        [
            sum(int((b["labels"][:, 1:] != -100).sum()) for b in micro),
            sum(int(b["attention_mask"].sum()) for b in micro),
        ],
        device=accelerator.device,
    )
    targets, tokens = (int(x) for x in accelerator.reduce(counts, "sum"))
    loss_sum = torch.zeros((), device=accelerator.device)
    for i, batch in enumerate(micro):
        sync = contextlib.nullcontext() if i == run.accum - 1 else accelerator.no_sync(wrapper)
        with sync:
            local_sum, _ = wrapper(batch)
            # DDP averages gradients over processes; x world makes the result a mean over the step's targets.
            accelerator.backward(local_sum * (run.world / targets))
        loss_sum += local_sum.detach().float()
    grad_norm = None
    if run.options.max_grad_norm is not None:
        grad_norm = float(accelerator.clip_grad_norm_(run.params, run.options.max_grad_norm))
    lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
    optimizer.step()
    run.scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    loss = float(accelerator.reduce(loss_sum, "sum")) / targets
    elapsed = time.perf_counter() - start
    return {
        "event": "step",
        "step": run.step + 1,
        "epoch": run.epoch,
        "loss": loss,
        "lr": lrs,
        "grad_norm": grad_norm,
        "tokens": tokens,
        "target_tokens": targets,
        "step_time_s": elapsed,
        "tokens_per_s": tokens / elapsed,
    }


def _save_checkpoint(run: _Run) -> Path:
    ckpt = run.output_dir / f"checkpoint-{run.step}"
    run.accelerator.save_state(str(ckpt / "training_state"))
    export_model(run.accelerator, run.wrapper, ckpt)
    if run.main:
        state = {
            "global_step": run.step,
            "epoch": run.epoch,
            "batch_in_epoch": run.batch_pos,
            "run": run.run_info,
            "stage": run.recipe.name,
            "model": run.model_spec,
            **to_dict(run.recipe, run.options),
        }
        (ckpt / STATE_FILE).write_text(json.dumps(state, indent=2))  # written last: marks it complete
    run.accelerator.wait_for_everyone()
    run.jsonl.write({"event": "checkpoint", "step": run.step, "path": str(ckpt)})
    run.result.checkpoints.append(ckpt)
    return ckpt


def _train_steps(run: _Run) -> None:
    """The loop: next step's micro-batches (a new epoch's order when one ends), one optimizer step, log,
    checkpoint every ``save_every`` steps."""
    from tqdm.auto import tqdm

    options = run.options
    bar = tqdm(
        total=run.total_steps,
        initial=run.step,
        desc=f"stage {run.recipe.name}",
        unit="step",
        disable=not (options.progress and run.main),
        dynamic_ncols=True,
    )
    batches = _epoch_batches(run)
    micro_batches = _micro_batches(run, batches[run.batch_pos :])
    while run.step < run.total_steps:
        if run.batch_pos >= len(batches):
            run.epoch, run.batch_pos = run.epoch + 1, 0
            batches = _epoch_batches(run)
            micro_batches = _micro_batches(run, batches)
        start = time.perf_counter()
        micro = [_to_device(next(micro_batches), run.accelerator.device) for _ in range(run.accum)]
        record = _optimizer_step(run, micro, start)
        run.step, run.batch_pos = run.step + 1, run.batch_pos + 1
        run.jsonl.write(record)
        run.result.losses.append(record["loss"])
        run.result.steps.append(run.step)
        lrs, tokens_per_s = record["lr"], record["tokens_per_s"]
        bar.update(1)
        bar.set_postfix(
            loss=f"{record['loss']:.4f}", lr=f"{max(lrs.values()):.2e}", tok_s=f"{tokens_per_s:.0f}"
        )
        if run.step % options.log_every == 0:
            log.info(
                "step %d/%d loss %.4f lr %s tokens/s %.0f",
                run.step,
                run.total_steps,
                record["loss"],
                " ".join(f"{k}={v:.3g}" for k, v in lrs.items()),
                tokens_per_s,
            )
        if options.save_every and run.step % options.save_every == 0:
            _save_checkpoint(run)
    bar.close()


def _finish(run: _Run) -> TrainResult:
    """The final model export and the result (last learning rates per parameter group)."""
    result = run.result
    export_model(run.accelerator, run.wrapper, result.final_dir)
    result.global_step = run.step
    result.param_groups = [
        {
            "name": g["name"],
            "lr": g["lr"],
            "initial_lr": g.get("initial_lr", g["lr"]),
            "num_parameters": sum(p.numel() for p in g["params"]),
        }
        for g in run.optimizer.param_groups
    ]
    run.jsonl.write(
        {
            "event": "end",
            "step": run.step,
            "final": str(result.final_dir),
            "checkpoints": [str(c) for c in result.checkpoints],
        }
    )
    run.accelerator.wait_for_everyone()
    return result


def evaluate_loss(
    model_spec: str,
    data: str | Path,
    recipe: StageRecipe,
    *,
    media_dir: str | Path | None = None,
    batch_size: int = 4,
    overlong: str = "skip",
) -> float:
    """Mean loss per target token of a model (preset or checkpoint) over a data set, with the
    recipe's visual layout (tau, image mode, frames)."""
    json_path, media = resolve_data(data, recipe, media_dir)
    model = LlavaOneVision.from_pretrained(model_spec, dtype="float32", device="cpu")
    if recipe.image_mode == "anyres":
        model.set_max_grid_tokens(recipe.max_grid_tokens)
    apply_video_layout(model, recipe)
    dataset = TrainDataset(read_records(json_path), media, model.processor, recipe, overlong)
    if len(dataset) == 0:
        raise ValueError(f"{json_path}: no usable records")
    return dataset_loss(model, dataset, recipe.image_mode, batch_size)


def read_log(output_dir: str | Path, event: str = "step") -> list[dict]:
    """The JSONL log's records of one event type (``step`` by default)."""
    path = Path(output_dir) / LOG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training log")
    return [
        r
        for r in (json.loads(line) for line in path.read_text().splitlines() if line.strip())
        if r.get("event") == event
    ]


__all__ = [
    "TrainResult",
    "build_optimizer",
    "build_scheduler",
    "evaluate_loss",
    "export_model",
    "latest_checkpoint",
    "read_log",
    "resolve_data",
    "train",
]
