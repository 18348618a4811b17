"""Task names: the resolver (ov-bench, lmms-eval task and group names, suites, "did you mean"), the
attributes every registered task carries, and lmms-eval's group metrics (against arithmetic and
lmms-eval's own group YAML)."""

from __future__ import annotations

import pytest

from tasks import Task, TaskError, get_task, list_tasks
from tasks.group_metrics import group_aggregates
from tasks.groups import group_config
from tasks.lmms import load_task_yaml
from tasks.registry import (
    SCORINGS,
    SUITES,
    groups,
    lmms_eval_names,
    registered_group_config,
    resolve_task_names,
    suite_members,
    task_classes,
    task_for_lmms_eval_name,
)
from tests.support.task_parity import LMMS_TASKS


def test_lmms_eval_names_resolve_to_ours():
    assert resolve_task_names(["mmmu_val", "docvqa_val", "nextqa_mc_test", "perceptiontest_val_mc"]) == [
        "mmmu",
        "docvqa",
        "nextqa",
        "perceptiontest",
    ]
    assert resolve_task_names(["egoschema_subset"]) == ["egoschema"]
    assert resolve_task_names(["mmstar", "mmmu", "mmmu_val", " mmstar "]) == ["mmstar", "mmmu"]  # once each
    assert get_task("mmmu_val").name == "mmmu" and get_task("docvqa_val").name == "docvqa"


def test_our_names_win_where_lmms_eval_uses_the_same_name():
    # lmms-eval's `egoschema` is the full server-scored test; ours is the 500-question subset
    assert resolve_task_names(["egoschema"]) == ["egoschema"]
    assert get_task("egoschema").lmms_eval_name == "egoschema_subset"
    assert resolve_task_names(["mmmu", "docvqa"]) == [
        "mmmu",
        "docvqa",
    ]  # not lmms-eval's groups of those names
    # the plugin looks lmms-eval names up exactly: its `egoschema` is never our subset
    assert task_for_lmms_eval_name("egoschema_subset") == "egoschema"
    assert task_for_lmms_eval_name("egoschema") in (None, "egoschema_test")
    assert task_for_lmms_eval_name("mmmu_val") == "mmmu"


def test_unknown_names_get_one_line_with_the_closest():
    for wrong, first in [
        ("mmstr", "mmstar"),
        ("MMStar", "mmstar"),
        ("seed_bench", "seedbench"),
        ("mmmu_vall", "mmmu_val"),
        ("mmbench", "mmbench_en_dev"),  # names that start with what was typed come first
    ]:
        with pytest.raises(TaskError) as info:
            resolve_task_names(["ai2d", wrong])
        message = str(info.value)
        assert message.startswith(f"unknown task {wrong!r}; did you mean: {first}") and "\n" not in message
    with pytest.raises(TaskError, match=r"^unknown task 'qqqqqq'; `ov-bench tasks` lists"):
        resolve_task_names(["qqqqqq"])


def test_suites():
    classes = task_classes()
    paper = suite_members("paper")
    parts = [suite_members(s) for s in ("paper-single-image", "paper-multi-image", "paper-video")]
    assert set(paper) == set().union(*parts) and len(paper) == len(set(paper))
    assert resolve_task_names(["paper"]) == paper
    for name in paper:
        cls = classes[name]
        assert cls.paper_row and cls.scoring != "server" and cls.in_paper_suite
    for name, cls in classes.items():  # nothing with a paper row is left out without a reason
        if cls.paper_row and cls.scoring != "server" and cls.in_paper_suite:
            assert name in paper
    single, multi, video = parts
    assert {"mmmu", "mmstar", "infovqa_val", "seedbench", "mmbench_en_dev"} <= set(single)
    assert "mmbench_en_dev_static" not in paper  # one variant per paper row
    assert "seedbench" in video and "egoschema" not in video  # SEED-Bench's video row; subset is no paper row
    assert {"muirbench", "llava_interleave_bench"} <= set(multi)
    assert all(classes[n].modality == "multi_image" for n in multi)
    assert set(SUITES) == {"paper", "paper-single-image", "paper-multi-image", "paper-video"}


def test_every_task_carries_its_names_and_paper_facts():
    for name, cls in task_classes().items():
        assert cls.scoring in SCORINGS, name
        assert cls.real_docs is None or (isinstance(cls.real_docs, int) and cls.real_docs > 0), name
        assert cls.paper_row is None or isinstance(cls.paper_row, str)
        assert isinstance(cls.layout_verified, bool) and isinstance(cls.in_paper_suite, bool)
        # the lmms-eval name is the task (or group) its YAML folder defines
        config = load_task_yaml(cls.lmms_eval_dir, cls.lmms_eval_yaml)
        defined = {config.get("task")} | {
            load_task_yaml(cls.lmms_eval_dir, p.name).get("group")
            for p in (LMMS_TASKS / cls.lmms_eval_dir).glob("*.yaml")
        }
        assert cls.lmms_eval_name in defined, name
    assert len(lmms_eval_names()) == len(list_tasks())  # one ov-bench task per lmms-eval name
    assert get_task("mmmu").real_docs == 900 and get_task("videomme").real_docs == 2700


def test_groups_are_lmms_evals():
    """A registered group's members are members of lmms-eval's group of that name; its name runs all of
    lmms-eval's members, or says which ones ov-bench lacks."""
    by_lmms = lmms_eval_names()
    assert "infovqa_val" in groups()["infovqa"]
    assert resolve_task_names(["infovqa"]) == ["infovqa_val", "infovqa_test"]  # the group YAML's order
    assert len(resolve_task_names(["blink"])) == 14
    for group, members in groups().items():
        lmms_members = registered_group_config(group).members
        assert {task_classes()[m].lmms_eval_name for m in members} <= set(lmms_members), group
        missing = [m for m in lmms_members if m not in by_lmms]
        if missing:
            with pytest.raises(TaskError, match=f"also runs {missing[0]}"):
                resolve_task_names([group])
        else:
            assert resolve_task_names([group]) == [by_lmms[m] for m in lmms_members]


def test_group_config_reads_lmms_evals_yaml():
    blink = group_config("blink", "blink")  # task: [blink_groups], a tag on each member YAML
    assert len(blink.members) == 14 and "blink_art_style" in blink.members
    assert blink.aggregate_metrics == (("blink_acc", False),)  # AggMetricConfig's default
    assert group_config("c4_bench", "c4_bench").aggregate_metrics == (("c4_exact_match", True),)
    assert group_config("infovqa", "infovqa").aggregate_metrics == ()
    with pytest.raises(TaskError):
        group_config("no_such_group", "blink")


def _fake_group(monkeypatch, task_dir: str, group: str, members: tuple[str, ...]) -> list[str]:
    """Register stand-in tasks for an lmms-eval group ov-bench does not provide (registry only)."""
    import tasks.registry as registry

    registry.list_tasks()
    names = []
    for lmms_name in members:
        cls = type(
            f"Fake_{lmms_name}",
            (Task,),
            {
                "name": f"fake_{lmms_name}",
                "lmms_eval_name": lmms_name,
                "lmms_eval_group": group,
                "lmms_eval_dir": task_dir,
                "modality": "single_image",
            },
        )
        monkeypatch.setitem(registry._REGISTRY, cls.name, cls)
        names.append(cls.name)
    return names


def test_group_aggregates_unweighted_and_weighted(monkeypatch):
    blink = resolve_task_names(["blink"])  # the 14 registered BLINK tasks, in the group YAML's order
    c4 = _fake_group(monkeypatch, "c4_bench", "c4_bench", group_config("c4_bench", "c4_bench").members)
    results = {}
    for i, name in enumerate(blink):
        results[name] = {
            "n": 10 + i,
            "errors": i % 2,
            "metrics": {"blink_acc": i / 20, "parse_failure_rate": 0.0},
        }
    values = [i / 20 for i in range(14)]
    sizes, scores = [100, 50, 20, 30], [0.9, 0.5, 0.25, 0.0]
    for name, n, score in zip(c4, sizes, scores):
        results[name] = {"n": n + 5, "errors": 5, "metrics": {"c4_exact_match": score}}
    out = group_aggregates(results)
    assert out["blink"]["metrics"] == {"blink_acc": pytest.approx(sum(values) / 14, abs=1e-15)}
    assert out["blink"]["weight_by_size"] == {"blink_acc": False}
    expected = sum(s * n for s, n in zip(scores, sizes)) / sum(sizes)  # scored samples: n minus errors
    assert out["c4_bench"]["metrics"]["c4_exact_match"] == pytest.approx(expected, abs=1e-15)
    assert out["c4_bench"]["n"] == sum(sizes) and out["c4_bench"]["members"] == c4
    del results[blink[3]]  # a group with a member missing from the run gets no number
    assert "blink" not in group_aggregates(results)
    assert "infovqa" not in group_aggregates({"infovqa_val": {"n": 3, "errors": 0, "metrics": {"anls": 0.5}}})


@pytest.mark.parametrize("command", ["run", "sweep", "tokens", "fetch"])
def test_every_command_takes_the_same_names(command, capsys):
    """Each command resolves --tasks through the registry: an unknown name is one line and exit 2."""
    from ov_bench.cli import main

    assert main([command, "--tasks", "mmmu_val,mmstr"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ov-bench: error: unknown task 'mmstr'; did you mean: mmstar") and "\n" not in err


def test_tasks_command_lists_names_side_by_side(capsys):
    import json

    from ov_bench.cli import main

    assert main(["tasks", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {r["task"]: r for r in data["tasks"]}
    assert rows["mmmu"]["lmms_eval"] == "mmmu_val" and rows["egoschema"]["lmms_eval"] == "egoschema_subset"
    assert rows["seedbench"]["real_docs"] == 17990 and rows["realworldqa"]["layout"] == "inferred"
    assert (
        rows["mmbench_en_dev"]["scoring"].startswith("local") and "judge" in rows["mmbench_en_dev"]["scoring"]
    )
    assert data["suites"]["paper"] == suite_members("paper")
    assert data["groups"]["infovqa"] == ["infovqa_val", "infovqa_test"] and set(data["groups"]) == set(
        groups()
    )
    assert main(["tasks"]) == 0
    text = capsys.readouterr().out
    assert "mmmu_val" in text and "suite paper-video:" in text and "MMStar" in text
