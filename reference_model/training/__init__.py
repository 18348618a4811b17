"""Training the reference model: the LLaVA-OneVision stages (1, 1.5, 2-si, 2-ov) on accelerate.

    from reference_model.training import get_stage, TrainOptions, train
    result = train("tiny", "samples", "runs/stage1", get_stage("1"), TrainOptions(max_steps=20))

Modules: recipes (stages as data, overrides), conversations (LLaVA JSON -> ChatML ids + targets),
media (image/video reading), dataset (index pass, batches grouped by modality and length),
forward (the loss), trainer (the accelerate loop, checkpoints, logs), synthetic (a training set
whose answers are in the pixels).
"""

from .recipes import STAGES, StageRecipe, TrainOptions, apply_overrides, get_stage, load_yaml_overrides
from .synthetic import make_synthetic_set

__all__ = [
    "STAGES",
    "StageRecipe",
    "TrainOptions",
    "TrainResult",
    "apply_overrides",
    "evaluate_loss",
    "get_stage",
    "load_yaml_overrides",
    "make_synthetic_set",
    "read_log",
    "train",
]


def __getattr__(name: str):
    # local: the trainer imports torch (1-2 s); importing the package for its recipes (ov-bench train's
    # argument checks, --show-recipe) stays torch-free until training is asked for.
    if name in ("train", "TrainResult", "read_log", "evaluate_loss"):
        from . import trainer

        return getattr(trainer, name)
    raise AttributeError(name)
