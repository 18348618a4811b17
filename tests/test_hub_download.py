"""Hub ids download only what loading needs, checked through huggingface_hub itself against a loopback
hub (tests/support/loopback_hub_models.py) serving a repo laid out as llava-hf's: save_pretrained output
plus an ``onnx/`` folder of exports and a README."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.checkpoints import build_hf_checkpoint
from tests.support.loopback_hub_models import ModelHub

REPO = "llava-hf/llava-onevision-qwen2-tiny-ov-hf"
ONNX = {
    "onnx/vision_encoder.onnx": b"\x08\x07" * 4096,
    "onnx/decoder_model_merged.onnx_data": b"\0" * 65536,
    "onnx/config.json": b"{}",
    "onnx/embed_tokens_quantized.onnx": b"\x08\x07" * 1024,
}


@pytest.fixture()
def hub(tmp_path):
    ckpt = build_hf_checkpoint(tmp_path / "src")
    files = {p.relative_to(ckpt).as_posix(): p.read_bytes() for p in ckpt.rglob("*") if p.is_file()}
    files.update(ONNX)
    files["README.md"] = b"---\nlicense: apache-2.0\n---\n"
    server = ModelHub({REPO: files}).start()
    yield server, files
    server.stop()


@pytest.mark.slow
def test_hub_id_fetches_weights_tokenizer_and_configs_but_not_onnx(hub, tmp_path):
    server, files = hub
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(
        HF_ENDPOINT=server.endpoint,
        HF_HOME=str(tmp_path / "hf-home"),
        PYTHONPATH=os.getcwd(),
        HF_HUB_DISABLE_XET="1",
    )
    code = (
        "from reference_model import LlavaOneVision\n"
        f"m = LlavaOneVision.from_pretrained({REPO!r})\n"
        "print('params', sum(p.numel() for p in m.parameters()))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    fetched = server.fetched(REPO)
    assert not {f for f in fetched if f.startswith("onnx/")}, fetched
    assert "README.md" not in fetched
    wanted = {f for f in files if not f.startswith("onnx/") and f != "README.md"}
    assert wanted <= fetched, wanted - fetched  # weights, config, tokenizer, processor files
    assert "model.safetensors" in fetched and "config.json" in fetched
