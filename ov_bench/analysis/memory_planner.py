"""Memory per GPU of a model split across GPUs: weights per device, KV cache and an activation estimate,
from the architecture alone (no model is built), and how many GPUs of a given size a setting needs.

Weights, counted parameter by parameter (SigLIP so400m tower ``d``, MLP ``f``, ``Lv`` layers, ``n``
patches; Qwen2 hidden ``h``, ``L`` layers, MLP ``m``, KV width ``kv``, vocabulary ``V``)::

    vision  = 3*14*14*d + d + n*d                   # patch embedding (conv + bias) + positions
            + Lv * (4*(d*d + d) + 2*d*f + f + d + 4*d)   # q,k,v,o + MLP + 2 LayerNorms
            + 2*d                                   # post_layernorm (kept, unused)
    projector = d*h + h + h*h + h;  newline = h
    llm     = V*h                                   # embed_tokens
            + L * (2*h*h + h + 2*(h*kv + kv) + 3*h*m + 2*h)   # q (bias), o, k/v (bias), SwiGLU, 2 RMSNorms
            + h                                     # final norm
            + V*h unless the embeddings are tied    # lm_head

72B in bfloat16: 73.2e9 parameters = 146.4 GB (136.3 GiB).

Placement (as accelerate's ``balanced`` map does it, in module order, never splitting a layer):
the units (vision embeddings, each SigLIP layer, projector + newline + embed_tokens, each Qwen2
layer, norm + lm_head) fill GPU 0, 1, ... up to an even share of the total (plus one layer of slack).

Per GPU on top of its weights: the KV cache of its decoder layers (``2*kv*s*bytes`` per layer and
token) and the activations of one layer at a time while prefilling ``s`` tokens, estimated as
``s*(2*m + 4*h)*bytes`` (gate and up projections, hidden states, residual, attention output) on the
GPUs holding decoder layers, ``crops*n*(f + 4*d)*bytes`` on the GPU holding the vision tower; plus a
fixed allowance for the CUDA context and allocator (``RESERVE``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ov_bench.mdtable import md_table
from reference_model import LlavaOneVision
from reference_model.config import preset_config
from reference_model.device_map import plan_device_map, read_device_map

RESERVE = 1 * 2**30  # CUDA context, cuBLAS workspace, allocator fragmentation: about 1 GiB per GPU


@dataclass(frozen=True)
class Unit:
    name: str
    params: int
    decoder_layer: bool = False
    vision: bool = False


def model_units(cfg) -> list[Unit]:
    """The placement units of a reference_model ModelConfig, in module order, with parameter counts."""
    v, t = cfg.vision, cfg.text
    d, f, patch = v.hidden_size, v.intermediate_size, v.patch_size
    n = (v.image_size // patch) ** 2
    h, m, vocab = t.hidden_size, t.intermediate_size, t.vocab_size
    kv = t.num_key_value_heads * (h // t.num_attention_heads)
    units = [Unit("model.vision_tower.embeddings", 3 * patch * patch * d + d + n * d, vision=True)]
    vision_layer = 4 * (d * d + d) + 2 * d * f + f + d + 4 * d
    units += [
        Unit(f"model.vision_tower.encoder.layers.{i}", vision_layer, vision=True)
        for i in range(v.num_hidden_layers)
    ]
    units.append(Unit("model.vision_tower.post_layernorm", 2 * d, vision=True))
    units.append(
        Unit("model.multi_modal_projector+image_newline+embed_tokens", d * h + h + h * h + h + h + vocab * h)
    )
    decoder = 2 * h * h + h + 2 * (h * kv + kv) + 3 * h * m + 2 * h
    units += [
        Unit(f"model.language_model.layers.{i}", decoder, decoder_layer=True)
        for i in range(t.num_hidden_layers)
    ]
    units.append(Unit("model.language_model.norm+lm_head", h + (0 if t.tie_word_embeddings else vocab * h)))
    return units


def weight_params(cfg) -> int:
    return sum(u.params for u in model_units(cfg))


@dataclass
class GpuLoad:
    gpu: int
    weights: int
    kv_cache: int
    activations: int
    decoder_layers: int

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.activations + RESERVE


@dataclass
class GpuPlan:
    arch: str
    gpus: int
    gpu_memory: int | None
    seq: int
    crops: int
    loads: list[GpuLoad] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return self.gpu_memory is None or all(g.total <= self.gpu_memory for g in self.loads)

    @property
    def peak(self) -> int:
        return max(g.total for g in self.loads)


def place(cfg, gpus: int, bytes_per_param: int = 2) -> list[list[Unit]]:
    """Units per GPU, balanced: each GPU takes units in order up to total/gpus (plus one decoder layer)."""
    units = model_units(cfg)
    total = sum(u.params for u in units) * bytes_per_param
    largest = max(u.params for u in units if u.decoder_layer) * bytes_per_param
    share = total / gpus + largest
    out: list[list[Unit]] = [[] for _ in range(gpus)]
    gpu, used = 0, 0
    for unit in units:
        size = unit.params * bytes_per_param
        if used + size > share and out[gpu] and gpu < gpus - 1:
            gpu, used = gpu + 1, 0
        out[gpu].append(unit)
        used += size
    return out


def plan_gpus(
    cfg,
    arch: str,
    gpus: int,
    seq: int,
    crops: int,
    gpu_memory: int | None = None,
    bytes_per_param: int = 2,
    kv_bytes: int = 2,
) -> GpuPlan:
    """Memory per GPU of ``cfg`` split over ``gpus`` GPUs for a prompt of ``seq`` tokens and ``crops`` crops."""
    v, t = cfg.vision, cfg.text
    h, m = t.hidden_size, t.intermediate_size
    kv = t.num_key_value_heads * (h // t.num_attention_heads)
    n = (v.image_size // v.patch_size) ** 2
    plan = GpuPlan(arch, gpus, gpu_memory, seq, crops)
    for gpu, units in enumerate(place(cfg, gpus, bytes_per_param)):
        layers = sum(u.decoder_layer for u in units)
        act = 0
        if layers:
            act = seq * (2 * m + 4 * h) * bytes_per_param
        if any(u.vision for u in units):
            act = max(act, crops * n * (v.intermediate_size + 4 * v.hidden_size) * bytes_per_param)
        plan.loads.append(
            GpuLoad(
                gpu,
                sum(u.params for u in units) * bytes_per_param,
                layers * 2 * kv * seq * kv_bytes,
                act,
                layers,
            )
        )
    return plan


def gpus_needed(
    cfg,
    arch: str,
    seq: int,
    crops: int,
    gpu_memory: int,
    bytes_per_param: int = 2,
    kv_bytes: int = 2,
    most: int = 64,
) -> GpuPlan | None:
    """The smallest split that fits on GPUs of ``gpu_memory`` bytes (None: not even ``most`` GPUs)."""
    for gpus in range(1, most + 1):
        plan = plan_gpus(cfg, arch, gpus, seq, crops, gpu_memory, bytes_per_param, kv_bytes)
        if plan.fits:
            return plan
    return None


def map_weights_per_device(arch: str, device_map: dict | str, bytes_per_param: int = 2) -> dict[str, int]:
    """Weight bytes per device of an explicit device map (a dict or a JSON file) for a preset
    architecture, summed by accelerate over the model built on the meta device."""
    import torch
    from accelerate.utils import compute_module_sizes

    dtype = {2: torch.bfloat16, 4: torch.float32}.get(bytes_per_param, torch.bfloat16)
    mapping = read_device_map(device_map)
    if not isinstance(mapping, dict):
        raise ValueError(
            "tokens --device-map takes an explicit map (a JSON file); use --gpus N for a balanced split"
        )
    model = LlavaOneVision.empty(preset_config(f"arch:{arch}"), None, dtype)
    gpu_ids = [
        int(str(d).removeprefix("cuda:")) for d in mapping.values() if str(d).removeprefix("cuda:").isdigit()
    ]
    plan = plan_device_map(
        model,
        mapping,
        None,
        dtype,
        offload_folder="(planner)",
        gpus=list(range(max(gpu_ids, default=-1) + 1)),
    )
    sizes = compute_module_sizes(model, dtype=dtype)
    out: dict[str, int] = {}
    for name, device in plan.device_map.items():
        key = f"cuda:{device}" if isinstance(device, int) else str(device)
        out[key] = out.get(key, 0) + sizes.get(name, 0)
    return out


def _gib(value: float) -> str:
    return f"{value / 2**30:.1f}"


def render_gpu_plans(
    rows,
    archs: list[str],
    gpus: int | None,
    gpu_memory: int | None,
    bytes_per_param: int = 2,
    kv_bytes: int = 2,
) -> str:
    """Markdown: per architecture and setting, the GPUs needed (with --gpu-memory) or the load per GPU of
    a --gpus N split: weights, KV cache and activations of the setting's longest prompt, in GiB."""
    import math

    lines = [
        "## Memory per GPU (model split across GPUs)",
        "",
        f"Weights in {bytes_per_param}-byte parameters, balanced over the GPUs in module order (layers are "
        "never split); KV cache and activations for the setting's longest prompt (max visual tokens + "
        f"mean text tokens); {RESERVE // 2**30} GiB per GPU for the CUDA context. See "
        "`ov_bench.analysis.memory_planner`.",
        "",
    ]
    table = []
    for arch in archs:
        cfg = preset_config(f"arch:{arch}")
        for r in rows:
            seq = int(r.visual_tokens.max + (r.text_tokens_mean or 0))
            crops = math.ceil(r.crops_mean or 1)
            if gpus is None:
                plan = gpus_needed(cfg, arch, seq, crops, gpu_memory, bytes_per_param, kv_bytes)
                if plan is None:
                    table.append([arch, r.task, r.setting, seq, "> 64", "-", "-", "-", "-"])
                    continue
            else:
                plan = plan_gpus(cfg, arch, gpus, seq, crops, gpu_memory, bytes_per_param, kv_bytes)
            fits = "-" if gpu_memory is None else ("yes" if plan.fits else "no")
            table.append(
                [
                    arch,
                    r.task,
                    r.setting,
                    seq,
                    plan.gpus,
                    " / ".join(_gib(g.weights) for g in plan.loads),
                    _gib(max(g.kv_cache for g in plan.loads)),
                    _gib(max(g.activations for g in plan.loads)),
                    f"{_gib(plan.peak)} ({fits})",
                ]
            )
    lines.append(
        md_table(
            [
                "arch",
                "task",
                "setting",
                "longest prompt",
                "GPUs",
                "weights GiB per GPU",
                "KV GiB max",
                "activations GiB max",
                "peak GiB per GPU (fits)",
            ],
            table,
        )
    )
    return "\n".join(lines) + "\n"
