"""Every module imports, and every import a module defers still names something that exists.

Imports of the project's own code sit at the top of a module, where importing it checks them. The few
kept inside a function (to keep torch out of ``ov-bench --help``, or the model out of a light package)
run only when that function does, so a module that moved would fail a user, not CI: here each one is
resolved by name without running the function. ``ov-bench tokens --device-map FILE.json`` once failed
that way (ModuleNotFoundError on a moved module), so it is run here too.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import ENV, run_cli

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ov_bench", "tasks", "reference_model", "ov_media")
# What --help must not load (every command module is imported at start-up): the heavy libraries, and
# the engine and the adapters.
HELP_MUST_NOT_IMPORT = (
    "torch",
    "transformers",
    "lmms_eval",
    "datasets",
    "pandas",
    "matplotlib",
    "av",
    "ov_bench.engine",
    "ov_bench.adapters",
)


def project_modules() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package)
        path = [str(ROOT / package)]
        names += [info.name for info in pkgutil.walk_packages(path, prefix=f"{package}.", onerror=_raise)]
    return sorted(names)


def _raise(name: str) -> None:
    raise ImportError(f"cannot walk {name}")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _deferred(node: ast.AST, inside: bool = False):
    """Import statements that importing the module does not run: in a function body, or under an ``if``
    at module level (``if TYPE_CHECKING:``)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)) and inside:
            yield child
        nested = inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.If))
        yield from _deferred(child, nested)


def _target(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module name of a ``from ... import`` (relative ones resolved against ``module``)."""
    if not node.level:
        return node.module or ""
    package = module if is_package else module.rpartition(".")[0]
    return importlib.util.resolve_name("." * node.level + (node.module or ""), package)


def deferred_project_imports() -> list[tuple[str, str, list[str]]]:
    """(where, module, names) for each deferred import of the project's own code; names is empty for
    ``import X``."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = _module_name(path)
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in _deferred(tree):
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                if isinstance(node, ast.Import):
                    found += [(where, a.name, []) for a in node.names if a.name.split(".")[0] in PACKAGES]
                    continue
                target = _target(module, path.name == "__init__.py", node)
                if target.split(".")[0] in PACKAGES:
                    found.append((where, target, [a.name for a in node.names]))
    return found


DEFERRED = deferred_project_imports()


@pytest.mark.parametrize("name", project_modules())
def test_every_module_imports(name):
    importlib.import_module(name)


def test_the_walk_finds_every_package():
    names = project_modules()
    assert {"ov_bench.commands.tokens", "reference_model.training.trainer", "tasks.samples.draw"} <= set(
        names
    )
    assert "ov_media.video" in names and len(names) > 80


@pytest.mark.parametrize(("where", "module", "names"), DEFERRED, ids=[d[0] for d in DEFERRED])
def test_deferred_import_resolves(where, module, names):
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        pytest.fail(f"{where}: {exc}")
    for name in names:
        submodule = f"{module}.{name}"
        found = hasattr(mod, name) or (
            hasattr(mod, "__path__") and importlib.util.find_spec(submodule) is not None
        )
        assert found, f"{where}: `from {module} import {name}`: no such name or submodule"


def test_the_survey_sees_relative_and_lazy_imports():
    """The walk is not vacuous: it finds the kept local imports of each kind (relative in a package's
    ``__getattr__``, absolute in a command's ``execute``, inside a method)."""
    by_where = {where.rsplit(":", 1)[0]: (module, names) for where, module, names in DEFERRED}
    assert by_where["reference_model/__init__.py"] == ("reference_model.modeling", ["LlavaOneVision"])
    assert by_where["reference_model/training/__init__.py"] == ("reference_model.training", ["trainer"])
    assert "ov_bench/commands/tokens.py" in by_where and "ov_bench/adapters/reference.py" in by_where


def test_help_does_not_import_torch_or_the_engine():
    code = (
        "import sys; from ov_bench.cli import build_parser; build_parser().format_help(); "
        f"print([m for m in {HELP_MUST_NOT_IMPORT!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow  # lmms-eval's task utils import in seconds
def test_tokens_with_a_device_map_file(samples_cache, tmp_path):
    """The command line that once failed on a moved module: a two-GPU map of the 0.5b architecture."""
    device_map = tmp_path / "map.json"
    device_map.write_text(
        json.dumps(
            {
                "model.vision_tower": 0,
                "model.multi_modal_projector": 0,
                "model.image_newline": 0,
                "model.language_model.embed_tokens": 0,
                "model.language_model.layers": 1,
                "model.language_model.norm": 1,
                "model.language_model.rotary_emb": 1,
                "lm_head": 1,
            }
        )
    )
    args = ["--tasks", "ai2d", "--data", "samples", "--limit", "2", "--archs", "0.5b"]
    out = run_cli("tokens", *args, "--device-map", str(device_map), timeout=600)
    assert out.returncode == 0, out.stderr
    assert f"## Weights per device of {device_map} (GiB)" in out.stdout
    header = "| arch | cuda:0 | cuda:1 |"
    assert header in out.stdout
    row = out.stdout.split(header)[1].splitlines()[2]  # past the |---| line
    # Qwen2-0.5B's and SigLIP-so400m's shapes (26 layers kept), float16: the vision tower, projector,
    # newline and the 151936 x 896 embedding on GPU 0 (the tied lm_head counted once), the 24 decoder
    # layers and the final norm on GPU 1.
    d, d_mlp, h, h_kv, h_mlp, vocab = 1152, 4304, 896, 128, 4864, 151936
    vision = (
        26 * (4 * (d * d + d) + d * d_mlp + d_mlp + d_mlp * d + d + 4 * d) + 3 * 14 * 14 * d + d + 729 * d
    )
    gpu0 = (vision + d * h + h + h * h + h + h + vocab * h) * 2
    layer = h * h + h + 2 * (h * h_kv + h_kv) + h * h + 3 * h * h_mlp + 2 * h
    gpu1 = (24 * layer + h) * 2
    expected = ["0.5b", f"{gpu0 / 2**30:.1f}", f"{gpu1 / 2**30:.1f}"]
    assert [cell.strip() for cell in row.strip("|").split("|")] == expected
