"""Shared helpers for the tasks/ tests: the same rows as lmms-eval would see them (loaded by `datasets`
from the sample parquet, images decoded to PIL by datasets), and lmms-eval's own task config loaded with
lmms-eval's own YAML loader (functions as real callables). These are the independent side of the parity
tests: nothing here goes through tasks/lmms*.py."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

LMMS_TASKS = Path(__import__("importlib").util.find_spec("lmms_eval").submodule_search_locations[0]) / "tasks"


def hf_rows(task_dir: Path, config_dirs: list[str | None], split: str) -> list[dict]:
    """Rows of the sample parquet files as `datasets` yields them to lmms-eval (PIL images)."""
    import datasets

    rows: list[dict] = []
    for config in config_dirs:
        base = task_dir / config if config else task_dir
        files = sorted(str(p) for p in base.rglob(f"{split}-*.parquet"))
        assert files, f"no {split} parquet under {base}"
        ds = datasets.load_dataset("parquet", data_files=files, split="train")
        rows.extend(dict(r) for r in ds)
    return rows


@functools.cache
def lmms_config(task_dir: str, yaml_name: str) -> dict:
    from lmms_eval.utils import load_yaml_config

    return load_yaml_config(str(LMMS_TASKS / task_dir / yaml_name))


def lmms_kwargs(config: dict) -> dict:
    """lmms_eval_specific_kwargs as ConfigurableTask._prepare_model_specific_config leaves them for
    a model with no entry of its own."""
    kwargs = dict(config["lmms_eval_specific_kwargs"])
    kwargs.update(kwargs["default"])
    return kwargs


def responses_for(doc: dict) -> list[str]:
    """A varied set of model outputs for one doc."""
    out = [
        "A",
        "B",
        "(B)",
        "B.",
        "The answer is C",
        "C. something",
        "42",
        "3.5",
        "Yes",
        "no",
        "red",
        "",
        "  D  ",
        "garbage ###",
    ]
    options = doc.get("options")
    if isinstance(options, str):
        try:
            options = ast.literal_eval(options)
        except (ValueError, SyntaxError):
            options = None
    if options:
        out.append(str(options[0]))
        out.append(f"I think the correct option here is {options[-1]} because of the picture")
    for key in ("answer", "answers"):
        value = doc.get(key)
        if isinstance(value, list) and value:
            out.append(str(value[0]))
        elif isinstance(value, str):
            out.append(value)
            out.append(f"The answer is {value}.")
    return out


def pixels_equal(a, b) -> bool:
    import numpy as np

    return a.mode == b.mode and a.size == b.size and np.array_equal(np.asarray(a), np.asarray(b))


# ---- lmms-eval's own ConfigurableTask, offline -----------------------------------------------------
# lmms-eval builds a task from its YAML and loads the dataset with datasets.load_dataset(dataset_path,
# dataset_name); pointed at a local copy of the hub repo (a sample set in hub layout) that runs offline,
# so the tests can drive lmms-eval's real pipeline: ConfigurableTask.doc_to_text / doc_to_visual, its
# filter ensembles, the evaluator's reasoning-tag stripping, process_results and aggregation().

LMMS_CLI_REASONING_TAGS = [["<think>", "</think>"], ["<analysis>", "</analysis>"]]  # lmms-eval CLI default


def lmms_configurable_task(task_dir: str, yaml_name: str, repo_dir: Path):
    from lmms_eval.api.task import ConfigurableTask
    from lmms_eval.utils import load_yaml_config

    config = load_yaml_config(str(LMMS_TASKS / task_dir / yaml_name))
    config["dataset_path"] = str(repo_dir)
    return ConfigurableTask(config=config)


def lmms_process(task, doc: dict, response: str, doc_id: int = 0) -> dict:
    """One response through lmms-eval: Instance -> filter ensembles -> reasoning-tag stripping (the CLI
    default) -> ConfigurableTask.process_results, as lmms_eval.evaluator does for generate_until."""
    from lmms_eval.api.instance import Instance
    from lmms_eval.api.reasoning import strip_reasoning_tags

    (ensemble,) = task._filters
    inst = Instance("generate_until", (), 0, metadata={"task": "t", "doc_id": doc_id, "repeats": 1})
    inst.resps = [response]
    ensemble.apply([inst], [doc])
    filtered = inst.filtered_resps[ensemble.name]
    if isinstance(filtered, str):
        filtered = strip_reasoning_tags(filtered, LMMS_CLI_REASONING_TAGS)
    return task.process_results(doc, [filtered])


def lmms_aggregate(task, results: list[dict], output_path: str) -> dict:
    """ConfigurableTask.aggregation() over per-doc process_results dicts, as the evaluator calls it
    (args for aggregations that take them: only args.output_path is read)."""
    import inspect
    from types import SimpleNamespace

    out = {}
    for metric, agg in task.aggregation().items():
        values = [r[metric] for r in results if metric in r]
        if not values:
            continue
        if "args" in inspect.signature(agg).parameters:
            out[metric] = agg(values, args=SimpleNamespace(output_path=output_path))
        else:
            out[metric] = agg(values)
    return out
