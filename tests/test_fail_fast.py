"""Every check that can be made before loading a model or writing anything is made first: one line,
exit 2, and no output directory created or modified."""

from __future__ import annotations

import pytest

from ov_bench.cli import main
from ov_bench.outputs.store import OutputLock


def _refused(args: list[str], out, capsys) -> str:
    capsys.readouterr()
    assert main(["run", "--tasks", "mmmu", "--data", "samples", "--output", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ov-bench: error: ") and "\n" not in err
    return err


def test_cuda_device_without_cuda(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    err = _refused(["--device", "cuda"], tmp_path / "out", capsys)
    assert "CUDA is not available" in err
    assert not (tmp_path / "out").exists()


def test_mistyped_checkpoint_path_offline(tmp_path, capsys, monkeypatch):
    """`ckpt/llava` is no directory; read as a hub id it is not in the (empty) cache: refused at once with
    the download command, instead of after a failed hub download."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    err = _refused(["--model", "ckpt/llava"], tmp_path / "out", capsys)
    assert "not in the local hub cache" in err and "hf download ckpt/llava --local-dir DIR" in err
    assert not (tmp_path / "out").exists()


def test_mistyped_checkpoint_path_online_without_a_hub(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    err = _refused(["--model", "ckpt/llava"], tmp_path / "out", capsys)
    assert "the hub is unreachable" in err
    assert not (tmp_path / "out").exists()


def test_output_in_use_by_another_run(tmp_path, capsys):
    out = tmp_path / "out"
    with OutputLock(out):
        before = sorted(p.name for p in out.iterdir())
        err = _refused([], out, capsys)
        assert "in use by another ov-bench run" in err
        assert sorted(p.name for p in out.iterdir()) == before  # nothing added (no samples.sqlite)
    assert OutputLock.holder(out) is None  # released: the next run may use it
