"""lmms-eval requests as lmms-eval itself builds them, for the plugin tests (ov-bench's model called
the way lmms-eval's evaluator calls it)."""

from __future__ import annotations


def lmms_request(
    context: str,
    visuals,
    gen_kwargs: dict | None = None,
    doc_id: int = 0,
    task: str = "t",
    kind: str = "generate_until",
    target=None,
):
    """An Instance shaped as lmms-eval's ConfigurableTask.construct_requests makes it."""
    from lmms_eval.api.instance import Instance

    def doc_to_visual(doc):
        return visuals

    if kind == "generate_until":
        args = (context, dict(gen_kwargs or {}), doc_to_visual, doc_id, task, "test")
    else:
        args = (context, target, doc_to_visual, doc_id, task, "test")
    return Instance(kind, args, 0, {"task": task, "doc_id": doc_id, "repeats": 1})
