"""Rows only a test server can score: docvqa_test, infovqa_test and egoschema_test (lmms-eval's
`egoschema`, the full test). Their answers are not public: lmms-eval's process_results keeps a `submission`
entry per doc and the `submission` metric's aggregation writes the file a user uploads.

ov-bench runs them by name only (no suite includes them). Prompts and the per-doc submission entries are
lmms-eval's; records carry no per-sample score (score None). aggregate() calls lmms-eval's own
aggregation with its CLI arguments stood in by ``args.output_path = submission_dir``, so lmms-eval's
generate_submission_file writes ``<submission_dir>/submissions/<its file name>``; the caller sets
``task.submission_dir`` to the run directory first. Without one nothing is written (lmms-eval would
write ./submissions/ in the working directory). The metrics say where the file is and that the score
comes from the server: no number stands in for it.

EgoSchema's aggregation writes the file, then POSTs it to EgoSchema's validation server and retries for
minutes when that fails. It runs here against a copy of its module's globals whose `requests` refuses to
post (tasks.lmms_isolated.with_globals): the file is written by lmms-eval's code, the upload is the user's.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

from tasks.base import TaskError
from tasks.lmms import call
from tasks.lmms_isolated import with_globals
from tasks.lmms_task import LmmsTask
from tasks.registry import register
from tasks.video_tasks import EgoSchema

SUBMISSION_METRIC = "submission"


class UploadRefused(Exception):
    """Raised by the stand-in HTTP client: ov-bench never uploads a submission itself."""


class _NoUploads:
    """Stands in for `requests` inside lmms-eval's aggregation: post() refuses (nothing is sent)."""

    class exceptions:  # noqa: N801 - the attribute path lmms-eval's `except` clauses name
        class RequestException(Exception):  # never raised, so UploadRefused is not retried
            pass

    @staticmethod
    def post(*args: Any, **kwargs: Any) -> Any:
        raise UploadRefused("ov-bench does not upload submissions")


class ServerScored:
    """Mixin for an LmmsTask whose `submission` metric a test server scores."""

    scoring = "server"
    main_metric = SUBMISSION_METRIC
    server: ClassVar[str]  # where the user uploads the file

    def summarize(self, doc: dict, response: str, filtered: Any, results: dict) -> tuple[float, Any, bool]:
        parse = getattr(self, "parse", None)
        parsed, failed = parse(doc, filtered, results) if parse is not None else (filtered, False)
        return math.nan, parsed, failed

    def score(self, doc: dict, response: str) -> dict:
        record = super().score(doc, response)  # type: ignore[misc]
        record["score"] = None  # no per-sample score: the server has the answers
        return record

    def estimator(self, metric: str) -> None:
        """No interval or sub-score: there is no per-sample score here (the server has the answers)."""
        return None

    def aggregate(self, records: list[dict]) -> dict[str, Any]:
        entries = [r["lmms"][SUBMISSION_METRIC] for r in records if SUBMISSION_METRIC in r.get("lmms", {})]
        out: dict[str, Any] = {"submission_entries": float(len(entries))}
        if self.submission_dir is None:
            out[SUBMISSION_METRIC] = "server-scored; no submission file written (no run directory given)"
            return out
        path = self.write_submission(entries, Path(self.submission_dir))
        out[SUBMISSION_METRIC] = f"server-scored: upload {path} to {self.server}"
        out["submission_file"] = str(path)
        return out

    def write_submission(self, entries: list[Any], run_dir: Path) -> Path:
        """lmms-eval's aggregation of the `submission` metric, writing into run_dir/submissions/; the path
        of the file it wrote (recorded from lmms-eval's generate_submission_file, which the task modules
        call by name or as file_utils.generate_submission_file)."""
        from lmms_eval.tasks._task_utils import file_utils

        (_, _, aggregation, _) = next(m for m in self._metrics if m[0] == SUBMISSION_METRIC)  # type: ignore[attr-defined]
        paths: list[str] = []

        def recorded(file_name: str, args: Any, subpath: str = "submissions") -> str:
            paths.append(file_utils.generate_submission_file(file_name, args, subpath))
            return paths[-1]

        overrides = {
            "requests": _NoUploads,
            "generate_submission_file": recorded,
            "file_utils": SimpleNamespace(generate_submission_file=recorded),
        }
        try:
            call(
                with_globals(aggregation, **overrides),
                entries,
                args=SimpleNamespace(output_path=str(run_dir)),
            )
        except UploadRefused:
            pass  # EgoSchema: the file is written before the upload is tried
        if len(paths) != 1 or not Path(paths[0]).is_file():
            raise TaskError(f"{self.name}: lmms-eval's aggregation wrote no single submission file ({paths})")  # type: ignore[attr-defined]
        return Path(paths[0])


@register
class DocVQATest(ServerScored, LmmsTask):
    name = "docvqa_test"
    lmms_eval_name = "docvqa_test"
    modality = "single_image"
    lmms_eval_dir = "docvqa"
    lmms_eval_yaml = "docvqa_test.yaml"
    id_column = "questionId"
    image_columns = ("image",)
    paper_row = "DocVQA (test)"
    real_docs = 5188
    server = "the DocVQA evaluation server, https://rrc.cvc.uab.es/?ch=17 (Task 1)"

    def generate_samples(self, out_dir: Path) -> None:
        from tasks.samples import image_samples

        image_samples.docvqa(out_dir, seed=0, split="test")


@register
class InfoVQATest(ServerScored, LmmsTask):
    name = "infovqa_test"
    lmms_eval_name = "infovqa_test"
    lmms_eval_group = "infovqa"
    modality = "single_image"
    lmms_eval_dir = "infovqa"
    lmms_eval_yaml = "infovqa_test.yaml"
    id_column = "questionId"
    image_columns = ("image",)
    paper_row = "InfoVQA (test)"
    real_docs = 3288
    server = "the InfographicVQA evaluation server, https://rrc.cvc.uab.es/?ch=17 (Task 3)"

    def generate_samples(self, out_dir: Path) -> None:
        from tasks.samples import server_samples

        server_samples.infovqa_test(out_dir, seed=0)


@register
class EgoSchemaTest(ServerScored, EgoSchema):
    name = "egoschema_test"
    lmms_eval_name = "egoschema"
    lmms_eval_yaml = "egoschema.yaml"
    paper_row = "EgoSchema (test)"
    real_docs = 5031
    layout_verified = False  # GENERATION/test-*.parquet and the zip members inferred, as for egoschema
    server = (
        "EgoSchema's validation server, https://validation-server.onrender.com/api/upload/ (POST the JSON)"
    )

    def generate_samples(self, out_dir: Path) -> None:
        from tasks.samples import video_samples

        video_samples.egoschema(out_dir)
