"""The published-numbers catalog: every ``*.yaml`` in this folder is one model family's table.

A family file names its checkpoints (a short key such as ``7b-ov`` and the hub repos that hold the
weights), the settings of the evaluation path that produced the numbers, and one entry per paper row:
the ov-bench task and results.json metric it compares with, how the metric's scale maps onto the
printed number, and the printed value per checkpoint (kept as printed, so the rounding is known).
Adding a family is adding a file; nothing here changes.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ov_bench.errors import UsageError

DATA_DIR = Path(__file__).resolve().parent
PUBLISHED_PREFIX = "published:"

# scale name -> (factor from the results.json value to the printed number, the printed full scale)
SCALES: dict[str, tuple[float, float | None]] = {
    "fraction": (100.0, 100.0),
    "percent": (1.0, 100.0),
    "points": (1.0, None),  # full_scale given per row (MME: 800 cognition, 2000 perception)
    "out_of_5": (1.0, 5.0),
}
UNKNOWN = "unknown"


class CatalogError(ValueError):
    """A malformed family file (a bug in the data, reported with the file and row)."""


@dataclass(frozen=True)
class Member:
    """One task (and metric) of a row that is the unweighted mean of several lmms-eval tasks."""

    task: str
    metric: str


@dataclass(frozen=True)
class PublishedRow:
    """One row of the paper, with every checkpoint's printed value."""

    family: str
    row: str
    tables: tuple[str, ...]
    task: str
    metric: str
    scale: str
    factor: float  # results.json value * factor = the printed scale
    full_scale: float  # the printed scale's full range (100 for percent, 2000 for MME perception)
    values: dict[str, str]  # checkpoint key -> value as printed in the detailed table
    table2: dict[str, str] = field(default_factory=dict)  # Table 2's value where it prints another one
    members: tuple[Member, ...] = ()  # a group row: the members averaged (empty: `task` itself)
    judge: str | None = None  # judge model behind the number ("unknown"); None: scored by rules
    scored_by: str | None = None  # "server": only the benchmark's server scores it
    definition_changed: str | None = None
    not_scorable: str | None = None
    other_splits: dict[str, str] = field(default_factory=dict)
    note: str | None = None

    @property
    def judged(self) -> bool:
        return self.judge is not None

    @property
    def tasks(self) -> tuple[str, ...]:
        """The ov-bench tasks whose results the row reads."""
        return tuple(dict.fromkeys(m.task for m in self.members)) if self.members else (self.task,)


@dataclass(frozen=True)
class PublishedValue:
    """One checkpoint's printed number in one row."""

    row: PublishedRow
    checkpoint: str
    printed: str

    @property
    def value(self) -> float:
        return float(self.printed)

    @property
    def decimals(self) -> int:
        return len(self.printed.split(".", 1)[1]) if "." in self.printed else 0

    @property
    def rounding(self) -> float:
        """Half a unit of the last printed digit: how far the unrounded value may lie from the print."""
        return 0.5 * 10.0 ** (-self.decimals)

    @property
    def table2(self) -> str | None:
        return self.row.table2.get(self.checkpoint)


@dataclass(frozen=True)
class Family:
    name: str
    paper: str
    evaluated_path: dict[str, Any]
    checkpoints: dict[str, tuple[str, ...]]  # short key -> hub repos holding those weights
    rows: tuple[PublishedRow, ...]
    source: Path

    def values(self, checkpoint: str) -> list[PublishedValue]:
        return [
            PublishedValue(r, checkpoint, r.values[checkpoint]) for r in self.rows if checkpoint in r.values
        ]


# ----------------------------------------------------------------------------- reading the files
def _printed(value: Any, where: str) -> str:
    text = str(value).strip()
    if not re.fullmatch(r"-?\d+(\.\d+)?", text):
        raise CatalogError(f"{where}: {value!r} is not a printed number")
    return text


def _row(family: str, raw: dict[str, Any], checkpoints: dict, where: str) -> PublishedRow:
    for key in ("row", "task", "metric", "scale", "values", "tables"):
        if key not in raw:
            raise CatalogError(f"{where}: missing {key!r}")
    scale = raw["scale"]
    if scale not in SCALES:
        raise CatalogError(f"{where}: unknown scale {scale!r} (known: {', '.join(SCALES)})")
    factor, full = SCALES[scale]
    full = raw.get("full_scale", full)
    if full is None:
        raise CatalogError(f"{where}: scale {scale!r} needs full_scale")
    values = {str(k): _printed(v, f"{where} {k}") for k, v in raw["values"].items()}
    table2 = {str(k): _printed(v, f"{where} table2 {k}") for k, v in (raw.get("table2") or {}).items()}
    for key in list(values) + list(table2):
        if key not in checkpoints:
            raise CatalogError(f"{where}: unknown checkpoint {key!r}")
    members = []
    for spec in raw.get("members") or []:
        task, _, metric = str(spec).partition(":")
        members.append(Member(task, metric or raw["metric"]))
    return PublishedRow(
        family=family,
        row=str(raw["row"]),
        tables=tuple(str(t) for t in raw["tables"]),
        task=str(raw["task"]),
        metric=str(raw["metric"]),
        scale=scale,
        factor=float(factor),
        full_scale=float(full),
        values=values,
        table2=table2,
        members=tuple(members),
        judge=None if raw.get("judge") is None else str(raw["judge"]),
        scored_by=raw.get("scored_by"),
        definition_changed=raw.get("definition_changed"),
        not_scorable=raw.get("not_scorable"),
        other_splits={str(k): str(v) for k, v in (raw.get("other_splits") or {}).items()},
        note=raw.get("note"),
    )


def load_family(path: Path) -> Family:
    import yaml

    raw = yaml.safe_load(Path(path).read_text())
    name = raw.get("family") or Path(path).stem
    checkpoints = {str(k): tuple(str(n) for n in v) for k, v in (raw.get("checkpoints") or {}).items()}
    rows = tuple(
        _row(name, r, checkpoints, f"{Path(path).name} row {i} ({r.get('row')})")
        for i, r in enumerate(raw.get("rows") or [])
    )
    return Family(
        name=name,
        paper=str(raw.get("paper", "")),
        evaluated_path=dict(raw.get("evaluated_path") or {}),
        checkpoints=checkpoints,
        rows=rows,
        source=Path(path),
    )


@functools.cache
def families() -> tuple[Family, ...]:
    out = tuple(load_family(p) for p in sorted(DATA_DIR.glob("*.yaml")))
    seen: dict[str, str] = {}
    for fam in out:
        for key, names in fam.checkpoints.items():
            for spelling in (key, *names):
                other = seen.setdefault(spelling.lower(), fam.name)
                if other != fam.name:
                    raise CatalogError(f"checkpoint {spelling!r} is in two families ({other}, {fam.name})")
    return out


def checkpoint_keys() -> list[str]:
    return [key for fam in families() for key in fam.checkpoints]


# ----------------------------------------------------------------------------- naming a checkpoint
def _spellings() -> dict[str, tuple[Family, str]]:
    """Every accepted spelling (lower case) -> (family, short key): the key, each repo id, its basename,
    and the hub cache folder name (models--owner--name)."""
    out: dict[str, tuple[Family, str]] = {}
    for fam in families():
        for key, names in fam.checkpoints.items():
            out[key.lower()] = (fam, key)
            for name in names:
                low = name.lower()
                out[low] = (fam, key)
                out[low.rsplit("/", 1)[-1]] = (fam, key)
                out["models--" + low.replace("/", "--")] = (fam, key)
    return out


def resolve_checkpoint(spelling: str) -> tuple[Family, str]:
    """(family, short key) of ``7b-ov``, ``lmms-lab/llava-onevision-qwen2-7b-ov``, its ``-hf`` port, or
    ``published:`` + any of them. Unknown: UsageError naming the known keys."""
    text = spelling.strip()
    if text.lower().startswith(PUBLISHED_PREFIX):
        text = text[len(PUBLISHED_PREFIX) :]
    found = _spellings().get(text.lower())
    if found is None:
        raise UsageError(
            f"no published numbers for checkpoint {text!r}; known: {', '.join(checkpoint_keys())} "
            "(or their hub repo ids)"
        )
    return found


def published_values(spelling: str) -> list[PublishedValue]:
    fam, key = resolve_checkpoint(spelling)
    return fam.values(key)


@dataclass(frozen=True)
class Recognition:
    """Which published checkpoint a run's model is (key None: none, and ``why`` says why)."""

    key: str | None
    family: str | None
    why: str


def _candidates(model: dict[str, Any]) -> list[str]:
    """Names a model block carries: its id (minus an adapter prefix) and any _name_or_path it recorded."""
    out = []
    ident = str(model.get("id") or "")
    if ":" in ident and not ident.startswith("/"):
        prefix, rest = ident.split(":", 1)
        if prefix in ("hf", "reference", "ref", "arch"):
            ident = rest
    if ident:
        out.append(ident)
    for block in (model, model.get("config") or {}, model.get("source_config") or {}):
        name = block.get("_name_or_path") or block.get("name_or_path")
        if isinstance(name, str) and name:
            out.append(name)
    return out


def _match(name: str, spellings: dict[str, tuple[Family, str]]) -> tuple[Family, str] | None:
    """A repo id, or a path whose last folder (or hub-cache folder before ``snapshots``) is a checkpoint's.
    Only the last folder counts: ``.../llava-onevision-qwen2-7b-ov/checkpoint-500`` is a fine-tune."""
    text = name.strip().rstrip("/")
    low = text.lower()
    if low in spellings and "/" in low:  # a repo id as given
        return spellings[low]
    parts = [p for p in re.split(r"[/\\]", low) if p]
    if not parts:
        return None
    if "snapshots" in parts:
        i = parts.index("snapshots")
        if i > 0 and parts[i - 1].startswith("models--"):
            return spellings.get(parts[i - 1])
    last = parts[-1]
    if last in spellings and last not in {k.lower() for k in checkpoint_keys()}:
        return spellings[last]  # a bare short key as a folder name (ckpt/7b-ov) is too loose to trust
    return None


def recognise(model: dict[str, Any], explicit: str | None = None) -> Recognition:
    """The published checkpoint behind results.json's model block, by an explicit key, by the model's
    name or path, or by the config's ``_name_or_path``. Presets, random weights and unknown checkpoints
    give key None and the reason."""
    if explicit:
        fam, key = resolve_checkpoint(explicit)
        return Recognition(key, fam.name, f"given explicitly ({explicit})")
    ident = str(model.get("id") or "?")
    if model.get("random_weights"):
        return Recognition(
            None,
            None,
            f"model {ident} has random weights (a preset architecture): no published numbers apply",
        )
    spellings = _spellings()
    for name in _candidates(model):
        found = _match(name, spellings)
        if found is not None:
            fam, key = found
            how = "model name" if name in str(model.get("id") or "") else "config _name_or_path"
            return Recognition(key, fam.name, f"recognised by its {how} {name!r}")
    return Recognition(
        None,
        None,
        f"model {ident} is not one of the published checkpoints ({', '.join(checkpoint_keys())}); "
        "name one explicitly to compare anyway",
    )


def recognise_checkpoint(model: dict[str, Any]) -> str | None:
    """The short key of the published checkpoint behind a results.json model block, or None."""
    return recognise(model).key
