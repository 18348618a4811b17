"""LmmsTask: a Task driven by an lmms-eval 0.7.3 task YAML and the functions it names.

Everything that decides a prompt or a score is looked up from the YAML and executed by lmms-eval's
own code: doc_to_text / doc_to_visual / doc_to_target / process_results from the task's utils
module, the YAML's filter pipeline built with lmms_eval.filters.build_filter_ensemble, the default
generate_until scoring of lmms_eval.api.task.ConfigurableTask.process_results (for tasks such as
ai2d and docvqa that have no process_results of their own), and the metric aggregations. ov-bench
adds only what lmms-eval does outside those functions: loading rows, decoding media, and turning
per-sample results into JSON-safe records.

Why not instantiate ConfigurableTask itself: its constructor downloads the dataset from the hub.
The two ConfigurableTask methods used here are called on a small stand-in object holding exactly
the attributes those methods read, computed the way ConfigurableTask.__init__ computes them.
"""

from __future__ import annotations

import functools
import inspect
import tempfile
from types import SimpleNamespace
from typing import Any

from tasks.base import HubDataset, MediaError, Task, TaskError, Visuals, parse_failure_rate
from tasks.lmms import _FunctionTag, call, import_utils, load_task_yaml
from tasks.media import check_cell, decode_image_lenient, image_size, is_image_cell

# `lmms-eval --reasoning_tags` default (lmms_eval/__main__.py): the evaluator strips these blocks from
# every filtered response before process_results unless a task or the command line says otherwise.
LMMS_EVAL_CLI_REASONING_TAGS = '[["<think>", "</think>"], ["<analysis>", "</analysis>"]]'


def jsonable(value: Any) -> Any:
    """numpy scalars/arrays and tuples -> plain JSON types (records go to SQLite/JSON)."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _header_image_class() -> type:
    """A PIL Image subclass standing in for a cell while asking lmms-eval's doc_to_visual *which*
    cells it returns, in which order, without decoding pixels. It must be a real PIL Image because
    some doc_to_visual functions check isinstance(x, Image.Image); convert/copy return itself."""
    from PIL import Image

    class HeaderImage(Image.Image):
        def __init__(self, label: str, cell: Any):
            super().__init__()
            self.label = label
            self.cell = cell

        def convert(self, *args: Any, **kwargs: Any) -> HeaderImage:  # type: ignore[override]
            return self

        def copy(self) -> HeaderImage:  # type: ignore[override]
            return self

    return HeaderImage


_header_image = functools.cache(_header_image_class)


class LmmsTask(Task):
    """A Task whose prompt, visuals and scoring are lmms-eval's, as named by its YAML."""

    # The hub revision: None = the repo's default branch, like lmms-eval (see tasks/data.py).
    revision: str | None = None

    @functools.cached_property
    def lmms_eval_config(self) -> dict[str, Any]:
        """The task's lmms-eval YAML (with `include:` merged, `!function` kept as strings)."""
        return load_task_yaml(self.lmms_eval_dir, self.lmms_eval_yaml)

    @property
    def generation_kwargs(self) -> dict[str, Any]:
        """As lmms-eval's TaskConfig completes them (an `until` stop list; greedy when the YAML has none)."""
        from lmms_eval.api.task import TaskConfig

        c = self.lmms_eval_config
        gen = c.get("generation_kwargs")
        config = TaskConfig(
            output_type=c.get("output_type", "generate_until"), generation_kwargs=dict(gen) if gen else None
        )
        return dict(config.generation_kwargs or {})

    @property
    def dataset(self) -> HubDataset:  # type: ignore[override]
        c = self.lmms_eval_config
        split = c.get("test_split") or c.get("validation_split")
        return HubDataset(c["dataset_path"], c.get("dataset_name"), split, self.revision)

    def lmms_eval_kwargs(self, prompt_model: str | None = None) -> dict[str, Any]:
        """What ConfigurableTask passes to doc_to_text: the entry of ``prompt_model`` (the lmms-eval model
        name) when the YAML has one, else (a model without its own entry) the whole
        lmms_eval_specific_kwargs mapping updated with its "default" entry."""
        kwargs = self.lmms_eval_config.get("lmms_eval_specific_kwargs")
        if kwargs is None:
            return None  # type: ignore[return-value]
        if prompt_model is not None and prompt_model in kwargs:
            return dict(kwargs[prompt_model])
        merged = dict(kwargs)
        if "default" in kwargs:
            merged.update(kwargs["default"])
        elif "dataset" in kwargs:
            merged.update(kwargs["dataset"])
        return merged

    @property
    def target_kwargs(self) -> Any:
        kwargs = self.lmms_eval_config.get("model_specific_target_kwargs")
        return None if kwargs is None else kwargs.get("default")

    # ---- resolving the YAML's functions ---------------------------------------------------

    def _resolve(self, ref: Any) -> Any:
        if isinstance(ref, _FunctionTag):
            module, _, attr = ref.rpartition(".")
            return getattr(import_utils(self.lmms_eval_dir, module or "utils"), attr)
        return ref

    def lmms_fn(self, key: str) -> Any:
        ref = self.lmms_eval_config.get(key)
        if ref is None:
            return None
        return self._resolve(ref)

    @functools.cached_property
    def _filters(self) -> list[Any]:
        """The YAML's filter pipeline (lmms-eval builds "take_first" when there is none)."""
        from lmms_eval.filters import build_filter_ensemble

        filter_list = self.lmms_eval_config.get("filter_list")
        if not filter_list:
            return build_filter_ensemble("none", [["take_first", None]]).filters
        if len(filter_list) != 1:
            raise TaskError(f"{self.lmms_eval_name}: several filter pipelines; ov-bench scores one")
        config = filter_list[0]
        components = []
        for function in config["filter"]:
            kwargs = {k: v for k, v in function.items() if k != "function"}
            components.append([self._resolve(function["function"]), kwargs])
        return build_filter_ensemble(config["name"], components).filters

    @functools.cached_property
    def _metrics(self) -> list[tuple[str, Any, Any, dict]]:
        """(metric name, metric fn or None, aggregation fn, metric kwargs) per YAML metric."""
        from lmms_eval.api.registry import METRIC_REGISTRY, get_aggregation

        has_process_results = self.lmms_eval_config.get("process_results") is not None
        out = []
        for m in self.lmms_eval_config.get("metric_list") or []:
            name = m["metric"]
            kwargs = {k: v for k, v in m.items() if k not in ("metric", "aggregation", "higher_is_better")}
            fn = None if has_process_results else METRIC_REGISTRY[name]
            agg = m.get("aggregation")
            agg_fn = self._resolve(agg) if isinstance(agg, _FunctionTag) else get_aggregation(agg)
            out.append((name, fn, agg_fn, {} if has_process_results else kwargs))
        return out

    def _stand_in(self, doc: dict) -> SimpleNamespace:
        """The attributes ConfigurableTask.process_results / doc_to_target read, set as its
        __init__ and _prepare_metric_and_aggregation set them."""
        from lmms_eval.api.task import ConfigurableTask

        c = self.lmms_eval_config
        config = SimpleNamespace(
            process_results=self.lmms_fn("process_results"),
            doc_to_choice=None,
            doc_to_target=self._resolve(c.get("doc_to_target")),
        )
        self_ = SimpleNamespace(
            OUTPUT_TYPE=c.get("output_type", "generate_until"),
            config=config,
            _config=config,
            features=[k for k in doc if not k.startswith("_")],
            model_specific_target_kwargs=self.target_kwargs,
            _metric_fn_list={name: fn for name, fn, _, _ in self._metrics},
            _metric_fn_kwargs={name: kw for name, _, _, kw in self._metrics},
        )
        self_.doc_to_target = functools.partial(ConfigurableTask.doc_to_target, self_)
        target = self_.doc_to_target(doc)
        # ConfigurableTask sets this from the first doc; the datasets here have one target type
        self_.multiple_target = len(target) if isinstance(target, list) else 0
        return self_

    @functools.cached_property
    def _reasoning_tags(self) -> list[list[str]] | None:
        from lmms_eval.api.reasoning import parse_reasoning_tags_config

        return parse_reasoning_tags_config(
            cli_value=LMMS_EVAL_CLI_REASONING_TAGS, task_value=self.lmms_eval_config.get("reasoning_tags")
        )

    # ---- the lmms-eval pipeline for one response ------------------------------------------

    def filter_response(self, doc: dict, response: str) -> Any:
        """The YAML's filters, then the reasoning-block stripping lmms-eval's evaluator applies before
        process_results (the task's `reasoning_tags`, else the `lmms-eval` CLI default)."""
        from lmms_eval.api.reasoning import strip_reasoning_tags

        resps: Any = [[response]]
        for f in self._filters:
            resps = list(call(f.apply, resps, [doc]))  # some filters return a map
        filtered = resps[0]
        tags = self._reasoning_tags
        if tags is None:
            return filtered
        if isinstance(filtered, str):  # as lmms_eval.evaluator._process_document_results
            return strip_reasoning_tags(filtered, tags)
        if isinstance(filtered, list):
            return [strip_reasoning_tags(r, tags) if isinstance(r, str) else r for r in filtered]
        return filtered

    def process_results(self, doc: dict, response: str) -> tuple[Any, dict]:
        """(filtered response, lmms-eval's process_results dict) for one response."""
        from lmms_eval.api.task import ConfigurableTask

        filtered = self.filter_response(doc, response)
        results = call(ConfigurableTask.process_results, self._stand_in(doc), doc, [filtered])
        return filtered, results

    # ---- Task API ----------------------------------------------------------------------------

    def doc_to_text(self, doc: dict, prompt_model: str | None = None) -> str:
        # as ConfigurableTask.doc_to_text: the kwargs only when the YAML has some (seedbench's
        # doc_to_text takes the doc alone and raises TypeError when given a second argument)
        kwargs = self.lmms_eval_kwargs(prompt_model)
        if kwargs is None:
            return call(self.lmms_fn("doc_to_text"), doc)
        return call(self.lmms_fn("doc_to_text"), doc, kwargs)

    def _visual_cells(self, doc: dict) -> list[Any]:
        """The cells lmms-eval's doc_to_visual returns, in its order, found without decoding."""
        header_image = _header_image()
        probe = dict(doc)
        for col in self.image_columns:
            value = doc.get(col)
            if isinstance(value, list):
                probe[col] = [header_image(f"{col}[{i}]", v) for i, v in enumerate(value)]
            elif is_image_cell(value):
                probe[col] = header_image(col, value)
            else:
                probe[col] = None
        cells = call(self.lmms_fn("doc_to_visual"), probe)
        for c in cells:
            if not isinstance(c, header_image):
                raise TaskError(f"{self.name}: doc_to_visual returned {type(c).__name__}, not an image cell")
        return cells

    def _label(self, doc: dict, cell_label: str) -> str:
        return f"{self.name} doc {self.doc_id(doc)} {cell_label}"

    def load_visuals(self, doc: dict, frames: int = 32) -> Visuals:
        """Decode the cells doc_to_visual uses, then run lmms-eval's doc_to_visual on them.

        A truncated image decodes as lmms-eval decodes it (grey filler) and the Visuals carry a
        media_warning (the runner makes that an error under `--strict-media`)."""
        wanted = {c.label for c in self._visual_cells(doc)}
        decoded = dict(doc)
        warnings: list[str] = []

        def decode(cell: Any, label: str) -> Any:
            image, warning = decode_image_lenient(cell, doc, self._label(doc, label))
            if warning:
                warnings.append(warning)
            return image

        for col in self.image_columns:
            value = doc.get(col)
            if isinstance(value, list):
                decoded[col] = [
                    decode(v, f"{col}[{i}]") if f"{col}[{i}]" in wanted else v for i, v in enumerate(value)
                ]
            elif col in wanted:
                decoded[col] = decode(value, col)
        try:
            images = call(self.lmms_fn("doc_to_visual"), decoded)
        except (OSError, ValueError) as e:
            raise MediaError(f"{self._label(doc, 'images')}: {e}") from None
        return Visuals(images=list(images), video=None, media_warning="; ".join(warnings) or None)

    def image_sizes(self, doc: dict) -> list[tuple[int, int]]:
        return [image_size(c.cell, doc, self._label(doc, c.label)) for c in self._visual_cells(doc)]

    def media_present(self, doc: dict) -> None:
        """Raise MediaError if a cell doc_to_visual uses has neither bytes nor an existing file (a stat,
        no decode: the preflight)."""
        for c in self._visual_cells(doc):
            check_cell(c.cell, doc, self._label(doc, c.label))

    def score(self, doc: dict, response: str) -> dict:
        response = "" if response is None else str(response)  # lmms-eval scores a missing output as ""
        filtered, results = self.process_results(doc, response)
        score, parsed, parse_failed = self.summarize(doc, response, filtered, results)
        return {
            "score": float(score),
            "parsed": None if parsed is None else str(parsed),
            "parse_failed": bool(parse_failed),
            "lmms": jsonable(results),
        }

    def summarize(self, doc: dict, response: str, filtered: Any, results: dict) -> tuple[float, Any, bool]:
        """(per-sample score on the metric's scale, parsed answer, parse failed) from lmms-eval's
        per-sample results. Default: the main metric's value, the filtered response, no parser."""
        value = results[self.main_metric]
        return float(value), filtered, False

    def aggregate(self, records: list[dict]) -> dict[str, float]:
        """lmms-eval's aggregation of each YAML metric over the records that have it. A metric whose
        aggregation returns no number (a submission file writer returns None) is left out."""
        out: dict[str, float] = {}
        for name, _, agg, _ in self._metrics:
            values = [r["lmms"][name] for r in records if name in r.get("lmms", {})]
            if values:
                value = self.aggregate_metric(name, agg, values)
                if value is not None:
                    out[name] = float(value)
        out["parse_failure_rate"] = parse_failure_rate(records)
        return out

    def aggregate_metric(self, name: str, agg: Any, values: list) -> Any:
        """One YAML metric's aggregate: lmms-eval's aggregation `agg` over the records' values."""
        return self._call_aggregation(agg, values)

    def _call_aggregation(self, agg: Any, values: list) -> Any:
        # lmms-eval passes args= (its CLI arguments) to aggregations that take it (evaluator_utils.py);
        # the only attribute they read is output_path, under which they write submissions/<file>
        # (lmms_eval.tasks._task_utils.file_utils): the task's submission_dir (the run directory), else
        # a temporary directory removed after the call, never ./submissions/ of the working directory.
        if "args" not in inspect.signature(agg).parameters:
            return call(agg, values)
        if self.submission_dir is not None:
            return call(agg, values, args=SimpleNamespace(output_path=str(self.submission_dir)))
        with tempfile.TemporaryDirectory(prefix="ov-bench-lmms-") as tmp:
            return call(agg, values, args=SimpleNamespace(output_path=tmp))
