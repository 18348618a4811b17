"""The model-adapter interface the engine drives: prepare (CPU, any thread) then generate (main thread).

Optional capability: :class:`EncodeOnce` (``adapter.encode_once()`` returns it, or None): encode a sample's
visuals once, re-tokenize the prompt at another AnyRes threshold, generate from the encoded visuals. The
sweep asks for it instead of checking the adapter's type; without it the sweep runs plain runs.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from ov_bench.model_spec import DEFAULT_FRAMES, ModelSpec
from ov_media.video import FrameSampling

from ..profiling import NullTimer


@dataclass
class Prepared:
    """A sample ready for the model: the processor's output plus what the runner records about it."""

    inputs: dict[str, Any]  # processor output, on CPU
    prompt: str
    visual_tokens_counted: int  # analytic: from image sizes / frame count alone, no tensors
    num_images: int = 0
    num_frames: int = 0


@dataclass
class Generation:
    text: str
    new_tokens: int
    visual_positions: int  # measured: sequence positions the model filled with visual features
    prompt_tokens: int  # length of the prefilled sequence (text + visual)
    extra: dict[str, Any] = field(default_factory=dict)


class EncodeOnce(abc.ABC):
    """Reuse of the vision work across thresholds (what the sweep shares between its settings)."""

    @abc.abstractmethod
    def encode(self, prepared: Prepared, timer: Any) -> Any:
        """The visual features of a prepared sample (vision encoder + projector), timed with ``timer``."""

    @abc.abstractmethod
    def at_threshold(self, prepared: Prepared, threshold: int | None) -> Prepared:
        """The same sample re-tokenized at another threshold (same pixels, new ids and analytic count)."""

    @abc.abstractmethod
    def layout(self, prepared: Prepared, threshold: int | None) -> tuple:
        """What the packed model input depends on besides the features and the prompt: two thresholds with
        equal layouts give the model identical inputs, hence identical greedy outputs."""

    @abc.abstractmethod
    def generate_encoded(
        self, prepared: Prepared, features: Any, max_new_tokens: int, timer: Any
    ) -> Generation:
        """Greedy generation of an ``at_threshold`` sample from ``encode``'s features (the threshold in
        force is the one given to at_threshold)."""

    # The sweep's other axes (grid set, video layout, multi-image layout). An adapter that cannot
    # change them in place keeps these defaults and the sweep refuses those axes for it.
    def apply_setting(self, options: dict[str, Any]) -> None:
        """Put the model under a setting's layout options (load_adapter's keyword names), as a plain
        run loaded with those options would be; ``key`` and ``describe()`` follow."""
        if options:
            raise ValueError(f"this adapter cannot change {', '.join(sorted(options))} in place")

    def layout_state(self) -> Any:
        """A snapshot of the layout settings, for :meth:`restore_layout` after a sweep."""
        return None

    def restore_layout(self, state: Any) -> None:
        """Undo every :meth:`apply_setting` since ``state`` was taken."""
        return None

    def pixels_depend_on_grid_set(self, prepared: Prepared) -> bool:
        """Whether the sample's preprocessed pixels change with the AnyRes grid set (conservative default:
        yes, so the sample is prepared and encoded again under each grid set)."""
        return True


class ModelAdapter(abc.ABC):
    """One model implementation behind the runner. Subclasses set the attributes below."""

    kind: str = ""  # "reference" | "hf" | ...
    model_id: str = ""
    dtype: str = "float32"
    device: str = "cpu"
    unpad_rounding: str = "original"
    image_resize: str = "pil"  # bicubic resize backend of the image preprocessing: pil | torchvision
    random_weights: bool = False  # a preset with random weights (tiny, arch:...), not a checkpoint
    max_batch_size: int = 1  # > 1: generate_batch runs that many samples in one model call
    # Video settings of the evaluation (the checkpoint family's defaults, then the user's overrides; see
    # apply_video_options): frame sampling mode, force_sample, the time instruction, the lmms-eval model
    # whose task prompts are used (None: the default entries) and the default frame count (cap).
    frame_sampling: str = "uniform"
    force_sample: bool = False
    time_instruction: bool = False
    prompt_model: str | None = None
    default_frames: int = DEFAULT_FRAMES
    spec: ModelSpec = ModelSpec()  # the settings it was loaded with (a sweep changes its layout ones)

    def apply_video_options(self) -> None:
        """The spec's explicit --frame-sampling / --force-sample / --time-instruction over the family
        defaults set by the subclass."""
        for name in ("frame_sampling", "force_sample", "time_instruction"):
            if getattr(self.spec, name) is not None:
                setattr(self, name, getattr(self.spec, name))

    def sampling(self) -> Any:
        """The ov_media.video.FrameSampling the adapter's settings describe."""
        return FrameSampling(self.frame_sampling, self.force_sample)

    def video_settings(self) -> dict[str, Any]:
        """What results.json records about how videos were sampled and prompted."""
        return {
            "frame_sampling": self.frame_sampling,
            "force_sample": self.force_sample,
            "time_instruction": self.time_instruction,
            "prompts": self.prompt_model or "default",
            "default_frames": self.default_frames,
        }

    @property
    def key(self) -> str:
        """Identifies the model's outputs in the results store (threshold is a separate column)."""
        return f"{self.kind}:{self.model_id}@{self.dtype}" + self.spec.key_suffix(self.default_image_resize)

    default_image_resize: str = "pil"  # the adapter's own default (not part of the results key)

    @property
    @abc.abstractmethod
    def threshold(self) -> int | None:
        """The AnyRes grid-token threshold tau in force (None = no cap)."""

    @abc.abstractmethod
    def set_threshold(self, tau: int | None) -> None:
        """Change tau in place; raise ValueError for a tau this adapter cannot honour."""

    @abc.abstractmethod
    def prepare(self, question: str, images: list, video: Any | None) -> Prepared:
        """Build the prompt (lmms-eval's rule) and run the processor. Thread-safe, CPU only."""

    @abc.abstractmethod
    def generate(self, prepared: Prepared, max_new_tokens: int, timer: Any) -> Generation:
        """Greedy generation, timing stages with ``timer`` (a StageTimer or NullTimer)."""

    def generate_batch(self, prepared: list[Prepared], max_new_tokens: int, timer: Any) -> list[Generation]:
        """Greedy generation of several samples in one call, one Generation per sample in order, each
        equal to what :meth:`generate` gives alone. ``timer`` spans the whole batch. Adapters with
        ``max_batch_size`` 1 only take a batch of one."""
        if len(prepared) != 1:
            raise NotImplementedError(f"the {self.kind} adapter generates one sample at a time")
        return [self.generate(prepared[0], max_new_tokens, timer)]

    def finish_stages(self, stages: dict[str, float]) -> dict[str, float]:
        """Turn the timer's raw spans into the recorded stages (hook for adapters timing by subtraction)."""
        return stages

    def describe(self) -> dict[str, Any]:
        """The "model" block of results.json."""
        return {
            "id": self.model_id,
            "adapter": self.kind,
            "key": self.key,
            "threshold": self.threshold,
            "dtype": self.dtype,
            "device": self.device,
            "unpad_rounding": self.unpad_rounding,
            "image_resize": self.image_resize,
            "random_weights": self.random_weights,
        }

    def encode_once(self) -> EncodeOnce | None:
        """The encode-once capability, or None when the adapter has none (the default)."""
        return None

    def warmup(self) -> None:
        """One untimed call on a tiny synthetic input (a 32x32 image, a few prompt tokens, 2 new tokens):
        kernel selection and allocator warm-up, so they do not land in the first sample's latency."""
        from PIL import Image

        prepared = self.prepare("warm-up", [Image.new("RGB", (32, 32), (128, 128, 128))], None)
        self.generate(prepared, max_new_tokens=2, timer=NullTimer())
