"""Building the model from a preset, or loading it from a checkpoint in the HF or original layout.

HF layout: what transformers' ``save_pretrained`` writes for LlavaOnevisionForConditionalGeneration
(config.json with model_type "llava_onevision", safetensors, tokenizer files, processor config).
Original layout (lmms-lab/llava-onevision-*): a Qwen2 config.json with ``mm_*`` keys and weights named
``model.vision_tower.vision_tower.vision_model.*``, ``model.mm_projector.{0,2}``, ``model.layers.*``.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import torch

from .config import (
    PRESETS,
    TOKENS_PER_CROP,
    AnyResConfig,
    ModelConfig,
    TextConfig,
    TokenIds,
    VisionConfig,
    preset_config,
    validate_max_grid_tokens,
    validate_unpad_rounding,
)
from .device_map import cuda_hint, dispatch, plan_device_map
from .families import apply_original_layout
from .generation import read_generation_config
from .qwen2_tokenizer import QWEN2_SPECIAL_IDS, load_qwen2_tokenizer
from .tiny_weights import lively_init
from .tokenizer import TINY_SPECIAL_IDS, build_tiny_tokenizer
from .weights import CheckpointFiles, checkpoint_files, list_tensors, stream_into

_UNSET = object()
_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


# What loading needs from a hub repo, and nothing else: llava-hf's 0.5B repo carries about 5 GB of
# ONNX exports (onnx/) beside its 1.8 GB model. fnmatch's "*" also matches "/", so the weight
# patterns start with the file names transformers and the original code write.
HUB_ALLOW_PATTERNS = (
    "config.json",
    "generation_config.json",
    "model*.safetensors",
    "model.safetensors.index.json",
    "pytorch_model*.bin",
    "pytorch_model.bin.index.json",
    "tokenizer*",
    "vocab.json",
    "merges.txt",
    "special_tokens_map.json",
    "added_tokens.json",
    "processor_config.json",
    "preprocessor_config.json",
    "video_preprocessor_config.json",
    "chat_template*",
)


def resolve_dtype(dtype, device=None) -> torch.dtype:
    """A dtype name -> torch dtype. ``auto``: float16 when the model runs on CUDA (the original
    loader's default), float32 on the CPU; ``device`` is a device string or a device map."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, "auto"):
        return torch.float16 if _uses_cuda(device) else torch.float32
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; known: auto, float32, bfloat16, float16")
    return _DTYPES[dtype]


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _uses_cuda(device) -> bool:
    if device is None:
        return False
    if isinstance(device, dict):
        return any(isinstance(d, int) or str(d).startswith("cuda") for d in device.values())
    return torch.device(device).type == "cuda"


@contextlib.contextmanager
def _construct_on(device: torch.device, dtype: torch.dtype):
    """Create parameters directly in the target dtype and device (a 7B model in fp32 would not fit in RAM)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with device:
            yield
    finally:
        torch.set_default_dtype(previous)


def tau_from_aspect_ratio(aspect_ratio: str | None) -> int | None:
    """``anyres_max_N`` -> N * 729; plain ``anyres`` has no cap."""
    if not aspect_ratio:
        return None
    match = re.fullmatch(r"anyres_max_(\d+)", aspect_ratio)
    return int(match.group(1)) * TOKENS_PER_CROP if match else None


def load_model(
    model_cls: type,
    path_or_preset: str,
    *,
    max_grid_tokens=_UNSET,
    unpad_rounding: str = "original",
    dtype="auto",
    device="cpu",
    device_map=None,
    max_memory=None,
    offload_folder=None,
) -> torch.nn.Module:
    """Build a preset or stream a checkpoint into ``model_cls`` (LlavaOneVision, which passes itself:
    this module never imports the model, so the two do not import each other). ``device_map`` (``auto``, ``balanced``,
    ``sequential``, a dict or a JSON file) and ``max_memory`` split the model across devices with
    accelerate (see ``device_map.py``); without them the model lives on ``device``."""
    validate_unpad_rounding(unpad_rounding)
    if max_grid_tokens is not _UNSET:
        validate_max_grid_tokens(max_grid_tokens)
    spec = str(path_or_preset)
    path = Path(spec).expanduser()
    name = spec.split("?")[0].lower()
    if name in PRESETS and name != "tiny" and not path.exists():
        # A bare size looks like a checkpoint; random weights must be asked for by name.
        raise ValueError(f"{spec}: use arch:{name} for random weights, or a checkpoint path")
    ckpt = None
    if name.removeprefix("arch:") in PRESETS and not path.exists():
        config, tokenizer = _preset(spec)
    else:
        config, tokenizer, ckpt = _checkpoint(_resolve_dir(spec))
    config.anyres.unpad_rounding = unpad_rounding
    if max_grid_tokens is not _UNSET:
        config.anyres.max_grid_tokens = max_grid_tokens

    split = device_map is not None or max_memory is not None
    dtype = resolve_dtype(dtype, cuda_hint(device_map, max_memory) if split else device)
    if ckpt is None:
        # Random presets: built whole, on the CPU when split (the same weights as an unsplit build).
        model = _build_preset(
            model_cls, spec, config, tokenizer, torch.device("cpu") if split else torch.device(device), dtype
        )
        if split:
            dispatch(
                model,
                plan_device_map(model, device_map, max_memory, dtype, offload_folder=offload_folder),
                offload_folder,
            )
    else:
        model = model_cls.empty(config, tokenizer, dtype)
        if split:
            plan = plan_device_map(model, device_map, max_memory, dtype, offload_folder=offload_folder)
            dispatch(
                model,
                plan,
                offload_folder,
                load=lambda m, device_of, on_disk: _stream(m, ckpt, dtype, device_of, on_disk),
            )
        else:
            target = torch.device(device)
            if target.type == "cuda" and target.index is None:
                target = torch.device("cuda", torch.cuda.current_device())
            _stream(model, ckpt, dtype, lambda _name: str(target), None)
            model = model.to(device)  # parameters are there already; this moves the computed buffers
    model.file_generation_settings = read_generation_config(ckpt.directory if ckpt is not None else None)
    return model.eval()


def _build_preset(
    model_cls: type, spec: str, config: ModelConfig, tokenizer, device: torch.device, dtype: torch.dtype
) -> torch.nn.Module:
    torch.manual_seed(0)  # random presets are the same model in every process and run
    with _construct_on(device, dtype):
        model = model_cls(config, tokenizer)
    if spec.split("?")[0].lower() == "tiny":
        lively_init(model, tokenizer)
    return model


def config_for(spec: str) -> ModelConfig | None:
    """The model config of a preset or a local checkpoint directory without reading weights or the
    tokenizer (None for a hub id not on disk)."""
    path = Path(spec).expanduser()
    if spec.split("?")[0].lower().removeprefix("arch:") in PRESETS and not path.exists():
        return preset_config(spec)
    if not path.is_dir():
        return None
    raw = json.loads((path / "config.json").read_text()) if (path / "config.json").is_file() else None
    if raw is None:
        raise FileNotFoundError(f"{path}: no config.json, not a checkpoint directory")
    config, ckpt, _ = _config_and_files(path, raw)
    return config


def _stream(model: torch.nn.Module, ckpt: CheckpointFiles, dtype: torch.dtype, device_of, on_disk) -> None:
    rename = _hf_key if ckpt_is_hf(ckpt) else _original_key
    stream_into(
        model,
        ckpt,
        rename,
        dtype=dtype,
        device_of=device_of,
        on_disk=on_disk,
        ignorable=lambda k: k == "lm_head.weight" or bool(_IGNORABLE.match(k)),
    )


def ckpt_is_hf(ckpt: CheckpointFiles) -> bool:
    return json.loads((ckpt.directory / "config.json").read_text()).get("model_type") == "llava_onevision"


def _preset(spec: str):
    config = preset_config(spec)
    if spec.split("?")[0].lower() == "tiny":
        config.token_ids = TokenIds(**TINY_SPECIAL_IDS)
        return config, build_tiny_tokenizer()
    # arch: presets get Qwen2's real tokenizer (built offline from packaged ranks), so text-token
    # counts and prompt lengths are those of the released checkpoints.
    config.token_ids = TokenIds(**QWEN2_SPECIAL_IDS)
    return config, load_qwen2_tokenizer()


def _resolve_dir(spec: str) -> Path:
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ValueError(f"{spec}: expected a checkpoint directory, got a file")
    if re.fullmatch(r"[\w.-]+/[\w.-]+", spec):
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(spec, allow_patterns=list(HUB_ALLOW_PATTERNS)))
        except Exception as exc:  # offline, unknown repo, no access
            raise FileNotFoundError(
                f"{spec}: not a local directory and the hub download failed ({type(exc).__name__}); "
                "pass a local checkpoint directory or a preset"
            ) from None
    raise FileNotFoundError(f"{spec}: no such checkpoint directory, hub id or preset ({', '.join(PRESETS)})")


def _checkpoint(directory: Path):
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{directory}: no config.json, not a checkpoint directory")
    raw = json.loads(config_path.read_text())
    config, ckpt, _ = _config_and_files(directory, raw)
    tokenizer = _load_tokenizer(directory)
    config.token_ids = _token_ids(raw, tokenizer)
    return config, tokenizer, ckpt


def _config_and_files(directory: Path, raw: dict):
    model_type = raw.get("model_type")
    if model_type == "llava_onevision":
        config, rename = _hf_config(raw), _hf_key
    elif "mm_projector_type" in raw or "mm_vision_tower" in raw:
        if raw.get("mm_projector_type", "mlp2x_gelu") != "mlp2x_gelu":
            raise ValueError(f"{directory}: projector {raw['mm_projector_type']!r} is not mlp2x_gelu")
        config, rename = _original_config(raw), _original_key
    else:
        raise ValueError(f"{directory}: model type {model_type!r} is not LLaVA-OneVision")
    ckpt = checkpoint_files(directory)
    if model_type != "llava_onevision":
        # The layer count comes from the stored names (file headers only, no tensor data).
        prefix = "model.vision_tower.encoder.layers."
        names = [rename(e.name) for e in list_tensors(ckpt)]
        layers = {int(k[len(prefix) :].split(".")[0]) for k in names if k.startswith(prefix)}
        config.vision.num_hidden_layers = len(layers) or config.vision.num_hidden_layers
    return config, ckpt, rename


def _load_tokenizer(directory: Path):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(directory))
    except Exception as exc:
        raise FileNotFoundError(f"{directory}: no usable tokenizer ({type(exc).__name__}: {exc})") from None


def _token_ids(raw: dict, tokenizer) -> TokenIds:
    def special(token: str, default: int) -> int:
        tid = tokenizer.convert_tokens_to_ids(token)
        return tid if isinstance(tid, int) and tid != tokenizer.unk_token_id and tid is not None else default

    image = raw.get("image_token_index", raw.get("image_token_id", special("<image>", 151646)))
    video = raw.get("video_token_index", raw.get("video_token_id", special("<video>", 151647)))
    eos = special("<|im_end|>", tokenizer.eos_token_id)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    return TokenIds(image=image, video=video, eos=eos, pad=pad)


def _text_config(t: dict, tie: bool) -> TextConfig:
    return TextConfig(
        hidden_size=t["hidden_size"],
        intermediate_size=t["intermediate_size"],
        num_hidden_layers=t["num_hidden_layers"],
        num_attention_heads=t["num_attention_heads"],
        num_key_value_heads=t.get("num_key_value_heads", t["num_attention_heads"]),
        vocab_size=t["vocab_size"],
        rms_norm_eps=t.get("rms_norm_eps", 1e-6),
        rope_theta=t.get("rope_theta", (t.get("rope_parameters") or {}).get("rope_theta", 1_000_000.0)),
        max_position_embeddings=t.get("max_position_embeddings", 32768),
        tie_word_embeddings=tie,
    )


def _vision_config(v: dict, feature_layer: int = -1) -> VisionConfig:
    base = VisionConfig()
    total = v.get("num_hidden_layers", base.num_hidden_layers)
    # hidden_states[k] is the output of layer k; run only the layers up to the selected one.
    used = total + 1 + feature_layer if feature_layer < 0 else feature_layer
    return VisionConfig(
        hidden_size=v.get("hidden_size", base.hidden_size),
        intermediate_size=v.get("intermediate_size", base.intermediate_size),
        num_hidden_layers=used,
        num_attention_heads=v.get("num_attention_heads", base.num_attention_heads),
        image_size=v.get("image_size", base.image_size),
        patch_size=v.get("patch_size", base.patch_size),
        layer_norm_eps=v.get("layer_norm_eps", base.layer_norm_eps),
        hidden_act=v.get("hidden_act", base.hidden_act),
    )


def _anyres(raw_pinpoints, aspect_ratio: str | None, pairs_are_wh: bool) -> AnyResConfig:
    if isinstance(raw_pinpoints, str):  # original "(1x1),...,(6x6)": i is the width multiple
        found = [tuple(map(int, m)) for m in re.findall(r"\((\d+)x(\d+)\)", raw_pinpoints)]
        (i0, j0), (i1, j1) = found[0], found[-1]
        raw_pinpoints = [(384 * i, 384 * j) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1)]
    pinpoints = None
    if raw_pinpoints:
        pinpoints = [(b, a) if pairs_are_wh else (a, b) for a, b in raw_pinpoints]
    anyres = AnyResConfig(max_grid_tokens=tau_from_aspect_ratio(aspect_ratio))
    if pinpoints:
        anyres.grid_pinpoints = pinpoints
    return anyres


VIDEO_KEYS = ("mm_newline_position", "mm_spatial_pool_mode", "add_time_instruction", "force_sample")


def _hf_config(raw: dict) -> ModelConfig:
    if raw.get("vision_feature_select_strategy", "full") != "full":
        raise ValueError(
            "vision_feature_select_strategy 'default' (drop CLS) does not apply to SigLIP towers"
        )
    text = raw["text_config"]
    tie = raw.get("tie_word_embeddings", text.get("tie_word_embeddings", False)) or text.get(
        "tie_word_embeddings", False
    )
    vision_cfg = raw.get("vision_config") or {"num_hidden_layers": 26}
    config = ModelConfig(
        vision=_vision_config(vision_cfg, raw.get("vision_feature_layer", -1)),
        text=_text_config(text, tie),
        anyres=_anyres(
            raw.get("image_grid_pinpoints"), raw.get("vision_aspect_ratio", "anyres_max_9"), False
        ),
    )
    if "ov_bench_max_grid_tokens" in raw:
        config.anyres.max_grid_tokens = raw["ov_bench_max_grid_tokens"]
    if any(k in raw for k in VIDEO_KEYS):  # a checkpoint trained with another video layout / as LLaVA-Video
        apply_original_layout(config, raw)
    return config


def _original_config(raw: dict) -> ModelConfig:
    # The original tower drops SigLIP's last layer and takes the last hidden state; the layer count is
    # read from the weights. "vision_config" is optional (ov-bench's own key for non-so400m towers).
    config = ModelConfig(
        vision=_vision_config(raw.get("vision_config") or {}),
        text=_text_config(raw, raw.get("tie_word_embeddings", False)),
        anyres=_anyres(raw.get("image_grid_pinpoints"), raw.get("image_aspect_ratio"), True),
    )
    return apply_original_layout(config, raw)  # video layout (mm_newline_position, pool mode) and family


def _hf_key(key: str) -> str:
    """Every HF naming seen in the wild -> ours: ``model.*`` (transformers >= 4.52 in memory) and the
    on-disk ``language_model.model.*`` / ``vision_tower[.vision_model].*`` names."""
    if key.startswith("language_model.model."):
        key = "model.language_model." + key[len("language_model.model.") :]
    elif key == "language_model.lm_head.weight":
        key = "lm_head.weight"
    elif key.startswith(("vision_tower.", "multi_modal_projector.", "image_newline")):
        key = "model." + key
    return key.replace("model.vision_tower.vision_model.", "model.vision_tower.")


def _original_key(key: str) -> str:
    for old, new in (
        ("model.vision_tower.vision_tower.vision_model.", "model.vision_tower."),
        ("model.mm_projector.0.", "model.multi_modal_projector.linear_1."),
        ("model.mm_projector.2.", "model.multi_modal_projector.linear_2."),
    ):
        if key.startswith(old):
            return new + key[len(old) :]
    if key.startswith(("model.embed_tokens.", "model.layers.", "model.norm.")):
        return "model.language_model." + key[len("model.") :]
    return key


_IGNORABLE = re.compile(r"model\.vision_tower\.(head\.|encoder\.layers\.\d+\.)|.*rotary_emb\.inv_freq")


def hf_config_dict(config: ModelConfig) -> dict:
    """The LlavaOnevisionConfig of this model, as transformers writes it."""
    from transformers import LlavaOnevisionConfig, Qwen2Config, SiglipVisionConfig

    v, t, tau = config.vision, config.text, config.anyres.max_grid_tokens
    hf = LlavaOnevisionConfig(
        vision_config=SiglipVisionConfig(**v.siglip_kwargs()).to_dict(),
        text_config=Qwen2Config(
            **t.qwen2_kwargs(), eos_token_id=config.token_ids.eos, pad_token_id=config.token_ids.pad
        ).to_dict(),
        image_token_index=config.token_ids.image,
        video_token_index=config.token_ids.video,
        vision_feature_layer=-1,
        vision_feature_select_strategy="full",
        # transformers only knows anyres_max_N; any other tau is kept in ov-bench's own key below.
        vision_aspect_ratio=f"anyres_max_{(tau or 6561) // TOKENS_PER_CROP}",
        image_grid_pinpoints=[list(p) for p in config.anyres.grid_pinpoints],
        tie_word_embeddings=t.tie_word_embeddings,
    )
    out = {**hf.to_dict(), "ov_bench_max_grid_tokens": tau}
    # The original code's video keys where the model is not plain OV (a LLaVA-Video recipe trained it):
    # transformers ignores them, ov-bench reads them back (the layout and family defaults survive a save).
    if (config.video_newline_position, config.video_pool_mode) != (
        "one_token",
        "bilinear",
    ) or config.training_switches:
        out.update(
            {
                "mm_newline_position": config.video_newline_position,
                "mm_spatial_pool_mode": config.video_pool_mode,
                **config.training_switches,
            }
        )
    return out


def save_hf_layout(model: torch.nn.Module, path) -> None:
    from safetensors.torch import save_file

    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(hf_config_dict(model.config), indent=2))
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if model.config.text.tie_word_embeddings:
        state.pop("lm_head.weight")  # shared with embed_tokens; safetensors refuses aliases
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    if model.tokenizer is not None:
        model.tokenizer.save_pretrained(str(directory))


def check_device_map(
    model_cls: type,
    spec: str,
    device_map: str | dict | None,
    max_memory: str | dict | None,
    offload_folder: str | None = None,
    dtype: str | torch.dtype = "auto",
):
    """The device plan (``device_map.DevicePlan``) of a preset or a local checkpoint, from its config
    alone (the model on the meta device). A hub id that is not downloaded yet is checked when it loads.
    Raises ValueError (one line)."""
    config = config_for(spec)
    if config is None:
        return None
    resolved = resolve_dtype(dtype, cuda_hint(device_map, max_memory))
    model = model_cls.empty(config, None, resolved)
    return plan_device_map(model, device_map, max_memory, resolved, offload_folder=offload_folder)
