"""``--image-resize``: each pairing of the reference preprocessing with transformers 5's image
processors is pixel-exact: ours ``pil`` = ``LlavaOnevisionImageProcessorPil``, ours ``torchvision`` =
``LlavaOnevisionImageProcessor`` (AutoProcessor's default), on a few sizes and aspect ratios; the
crossed pairings differ (so the comparison can fail)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

SIZES = [(640, 480), (1000, 300), (333, 777), (50, 40), (1920, 1080)]
SIGLIP = {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}  # the checkpoints' preprocessor_config


def _image(width: int, height: int, seed: int):
    from PIL import Image

    rng = np.random.default_rng(seed)
    # Smooth gradients plus noise: resampling differences show up as they do on photos.
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256], -1)
    noisy = np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(noisy)


@pytest.fixture(scope="module")
def hf_processors():
    from transformers.models.llava_onevision.image_processing_llava_onevision import (
        LlavaOnevisionImageProcessor,
    )
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (
        LlavaOnevisionImageProcessorPil,
    )

    from reference_model.config import default_grid_pinpoints

    pins = [list(p) for p in default_grid_pinpoints()]
    return {
        "pil": LlavaOnevisionImageProcessorPil(image_grid_pinpoints=pins, **SIGLIP),
        "torchvision": LlavaOnevisionImageProcessor(image_grid_pinpoints=pins, **SIGLIP),
    }


def _ours(image, backend: str) -> torch.Tensor:
    from reference_model.config import default_grid_pinpoints
    from reference_model.image_processing import anyres_crops, normalize

    return normalize(anyres_crops(image, default_grid_pinpoints(), backend))


@pytest.mark.parametrize("backend", ["pil", "torchvision"])
def test_pairings_are_pixel_exact(hf_processors, backend):
    other = "torchvision" if backend == "pil" else "pil"
    crossed_differs = 0
    for i, (w, h) in enumerate(SIZES):
        image = _image(w, h, i)
        theirs = hf_processors[backend](images=[image], return_tensors="pt")["pixel_values"][0]
        ours = _ours(image, backend)
        assert ours.shape == theirs.shape
        # Same uint8 pixels; the only difference left is float rounding of the normalisation.
        assert torch.allclose(ours, theirs, rtol=0, atol=1e-6), (w, h, (ours - theirs).abs().max())
        crossed_differs += int((_ours(image, other) - theirs).abs().max() > 1e-3)
    assert crossed_differs == len(SIZES)


def test_hf_adapter_pil_twin_keeps_settings(hf_processors):
    from ov_bench.adapters.hf import image_processor_for

    default = hf_processors["torchvision"]
    assert image_processor_for(default, "torchvision") is default
    twin = image_processor_for(default, "pil")
    assert type(twin).__name__ == "LlavaOnevisionImageProcessorPil"
    assert (
        list(twin.image_mean) == SIGLIP["image_mean"]
        and twin.image_grid_pinpoints == default.image_grid_pinpoints
    )
    image = _image(900, 500, 7)
    got = twin(images=[image], return_tensors="pt")["pixel_values"][0]
    assert torch.allclose(got, _ours(image, "pil"), rtol=0, atol=1e-6)
    back = image_processor_for(twin, "torchvision")
    assert type(back).__name__ == "LlavaOnevisionImageProcessor"
    assert torch.allclose(
        back(images=[image], return_tensors="pt")["pixel_values"][0],
        _ours(image, "torchvision"),
        rtol=0,
        atol=1e-6,
    )


def test_hf_adapter_pairs_with_the_reference_adapter(tmp_path):
    """Through the adapters as a run builds them (--model hf:DIR vs the reference model): the same
    --image-resize gives the same pixels; without it hf: keeps the checkpoint's processor."""
    from ov_bench.adapters import load_adapter
    from tests.support.checkpoints import build_hf_checkpoint

    directory = build_hf_checkpoint(tmp_path / "hf")
    image = _image(800, 600, 11)
    # transformers 5 saves image_processor_type "LlavaOnevisionImageProcessor" even for the PIL one,
    # so AutoProcessor builds the torchvision processor: hf:'s default, as with the hub's checkpoints.
    default = load_adapter(f"hf:{directory}", max_grid_tokens=6561)
    assert default.image_resize == "torchvision" and "resize=" not in default.key
    for backend in ("pil", "torchvision"):
        hf = load_adapter(f"hf:{directory}", max_grid_tokens=6561, image_resize=backend)
        ref = load_adapter("tiny", max_grid_tokens=6561, image_resize=backend)
        assert hf.describe()["image_resize"] == backend and hf.describe()["random_weights"] is False
        theirs = hf.prepare("What is it?", [image], None).inputs["pixel_values"][0]
        ours = ref.prepare("What is it?", [image], None).inputs["pixel_values"]
        assert torch.allclose(ours, theirs, rtol=0, atol=1e-6), backend


def test_reference_adapter_follows_the_setting():
    from ov_bench.adapters import load_adapter

    image = _image(700, 400, 3)
    for backend in ("pil", "torchvision"):
        adapter = load_adapter("tiny", max_grid_tokens=6561, image_resize=backend)
        described = adapter.describe()
        assert described["image_resize"] == backend and described["random_weights"] is True
        assert ("resize=torchvision" in adapter.key) == (backend == "torchvision")
        prepared = adapter.prepare("What is it?", [image], None)
        assert torch.equal(prepared.inputs["pixel_values"], _ours(image, backend))
    with pytest.raises(ValueError, match="pil, torchvision"):
        load_adapter("tiny", max_grid_tokens=6561, image_resize="cv2")


def test_hf_hub_id_gets_the_download_command(tmp_path):
    """hf: takes local directories only (docs/running.md); a hub id is answered with how to fetch it."""
    from ov_bench.adapters import check_model_spec

    with pytest.raises(
        FileNotFoundError, match="hf download llava-hf/llava-onevision-qwen2-0.5b-ov-hf --local-dir DIR"
    ):
        check_model_spec("hf:llava-hf/llava-onevision-qwen2-0.5b-ov-hf")
    with pytest.raises(FileNotFoundError, match="no such checkpoint directory"):
        check_model_spec(f"hf:{tmp_path / 'missing'}")
