"""Shared building blocks of the PyTorch reference transformers (FLUX.1 and SD3 MMDiT).

Everything here is written functionally over a plain ``{tensor name: tensor}`` dict so that the same code runs
in float64 (golden outputs) and in bf16 with SDPA (the timing baseline). Conventions and their sources are
listed in bench/reference/README.md.
"""

from __future__ import annotations

import json
import math
import os
from typing import Callable

import torch
import torch.nn.functional as F

# ----------------------------------------------------------------------------------------------------------------
# Timing


def timed(fn, reps=10, warmup=3):
    """Median ms of `fn` on the GPU (CUDA events) after `warmup` calls (kernels_ref.py, int8_gemm_ref.py)."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    # Repeat inside each sample so one sample lasts a few ms (same policy as the WGSL side).
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record(); fn(); end.record(); torch.cuda.synchronize()
    inner = max(1, min(50, int(5.0 / max(start.elapsed_time(end), 1e-3)) + 1))
    samples = []
    for _ in range(reps):
        start.record()
        for _ in range(inner):
            fn()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end) / inner)
    samples.sort()
    n = len(samples)
    return samples[n // 2] if n % 2 else 0.5 * (samples[n // 2 - 1] + samples[n // 2])


# ----------------------------------------------------------------------------------------------------------------
# Numerics


def dit_step_flops(hidden: int, blocks: int, l_img: int, l_txt: int, img_in: int, txt_in: int, img_out: int) -> float:
    """FLOPs (multiply-add = 2) of one MM-DiT step over L = l_img + l_txt tokens: per block and token 24 h^2 (qkv 6h^2
    + out 2h^2 + MLP 16h^2; FLUX single blocks 14h^2 + 10h^2), attention 4 L^2 h per block, and the input/output
    projections. The estimate `dit bench model` compares against (modulation and embedding MLPs ignored)."""
    L = l_img + l_txt
    per_block = 24 * hidden * hidden * L + 4 * L * L * hidden
    io = 2 * img_in * hidden * l_img + 2 * txt_in * hidden * l_txt + 2 * hidden * img_out * l_img
    return blocks * per_block + io


def is_low_precision(dtype: torch.dtype) -> bool:
    return dtype in (torch.float16, torch.bfloat16)


def linear(x: torch.Tensor, W: dict, name: str) -> torch.Tensor:
    """nn.Linear stored as ``name.weight`` [out, in] and optional ``name.bias`` [out]."""
    return F.linear(x, W[name + ".weight"], W.get(name + ".bias"))


def layer_norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """LayerNorm without affine parameters (every norm in both models is elementwise_affine=False)."""
    return F.layer_norm(x, (x.shape[-1],), eps=eps)


def rms_norm(x: torch.Tensor, scale: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """RMSNorm over the last axis with a learned scale; statistics in >= f32 like the BFL and diffusers code."""
    xf = x.float() if is_low_precision(x.dtype) else x
    rrms = torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)
    return (xf * rrms).to(x.dtype) * scale


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, use_sdpa: bool) -> torch.Tensor:
    """Non-causal softmax attention, q/k/v [B, H, L, D] -> [B, L, H*D]; scale 1/sqrt(D).

    The golden path spells the math out (float64, no backend choice); the timing path uses SDPA.
    """
    B, H, L, D = q.shape
    if use_sdpa:
        out = F.scaled_dot_product_attention(q, k, v)
    else:
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(D)
        out = torch.matmul(torch.softmax(scores, dim=-1), v)
    return out.transpose(1, 2).reshape(B, L, H * D)


def sinusoidal_embedding(t: torch.Tensor, dim: int = 256, max_period: float = 10000.0) -> torch.Tensor:
    """[cos | sin] embedding of already-scaled timesteps t [B] -> [B, dim].

    freq_i = exp(-ln(max_period) * i / (dim/2)), i = 0..dim/2-1; first half cos(t*freq), second half sin(t*freq).
    This is BFL ``timestep_embedding`` (after its t*1000) and diffusers ``Timesteps(flip_sin_to_cos=True,
    downscale_freq_shift=0)`` alike. Computed in float64 at least so both models see the same table.
    """
    half = dim // 2
    dtype = torch.float64
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=dtype, device=t.device) / half)
    args = t.to(dtype)[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    a = a.double()
    b = b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


# ----------------------------------------------------------------------------------------------------------------
# Random weights with real names


def init_weights(
    shapes: dict[str, tuple[int, ...]],
    seed: int,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    weight_std: float | None = None,
) -> dict[str, torch.Tensor]:
    """Random tensors for every name in ``shapes`` (sorted order, so a seed always gives the same model).

    Matrices: normal with std 1/sqrt(fan_in) (keeps activations O(1) through the blocks, std 0.02..0.09 for the
    tiny models) unless ``weight_std`` is given. Biases: std 0.02. RMSNorm scales (``*.scale`` / ``norm_*.weight``,
    1-D): 1 + 0.1*N(0,1), so a graph that skips them fails parity. Conv weights: fan_in = in*kh*kw.
    """
    gen = torch.Generator(device="cpu").manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for name in sorted(shapes):
        shape = shapes[name]
        if len(shape) >= 2:
            fan_in = int(math.prod(shape[1:]))
            std = weight_std if weight_std is not None else 1.0 / math.sqrt(fan_in)
            t = torch.randn(shape, generator=gen) * std
        elif name.endswith(".scale") or (".norm_" in name and name.endswith(".weight")):
            t = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        else:
            t = 0.02 * torch.randn(shape, generator=gen)
        out[name] = t.to(device=device, dtype=dtype)
    return out


def init_weights_fast(
    shapes: dict[str, tuple[int, ...]], device: str, dtype: torch.dtype, std: float = 0.02, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Full-size random weights straight on the GPU (values only matter for not overflowing; used for timing)."""
    gen = torch.Generator(device=device).manual_seed(seed)
    out = {}
    for name in sorted(shapes):
        shape = shapes[name]
        if name.endswith(".scale") or (".norm_" in name and name.endswith(".weight")):
            out[name] = torch.ones(shape, device=device, dtype=dtype)
        else:
            out[name] = (torch.randn(shape, generator=gen, device=device, dtype=torch.float32) * std).to(dtype)
    return out


def round_through(sd: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Round every tensor to ``dtype`` and back to f32, so layouts stored in different dtypes hold equal values."""
    return {k: v.to(dtype).to(torch.float32) for k, v in sd.items()}


# ----------------------------------------------------------------------------------------------------------------
# safetensors files: single file and diffusers' sharded folder


def save_single(path: str, sd: dict[str, torch.Tensor], dtype: torch.dtype, metadata: dict[str, str] | None = None):
    from safetensors.torch import save_file

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    save_file({k: v.to(dtype).contiguous() for k, v in sd.items()}, path, metadata=metadata)


def save_sharded(
    folder: str,
    sd: dict[str, torch.Tensor],
    dtype: torch.dtype,
    num_shards: int = 2,
    base: str = "diffusion_pytorch_model",
):
    """Write ``base-0000i-of-0000n.safetensors`` + ``base.safetensors.index.json`` like diffusers/transformers.

    Tensors are assigned in sorted-name order, a new shard starting when the running size passes 1/n of the total.
    """
    from safetensors.torch import save_file

    os.makedirs(folder, exist_ok=True)
    names = sorted(sd)
    elem = torch.empty((), dtype=dtype).element_size()
    sizes = {k: sd[k].numel() * elem for k in names}
    total = sum(sizes.values())
    shards: list[list[str]] = [[] for _ in range(num_shards)]
    running = 0
    for k in names:
        idx = min(num_shards - 1, int(running * num_shards // total))
        shards[idx].append(k)
        running += sizes[k]
    weight_map = {}
    for i, keys in enumerate(shards):
        fname = f"{base}-{i + 1:05d}-of-{num_shards:05d}.safetensors"
        save_file({k: sd[k].to(dtype).contiguous() for k in keys}, os.path.join(folder, fname), metadata={"format": "pt"})
        for k in keys:
            weight_map[k] = fname
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(folder, f"{base}.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")


def load_safetensors_any(path: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Load a single .safetensors file, or a diffusers folder (sharded via *.index.json or one file).

    Returns (tensors as stored, metadata of the first file).
    """
    from safetensors import safe_open

    def read(p: str):
        tensors, meta = {}, {}
        with safe_open(p, framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            for k in f.keys():
                tensors[k] = f.get_tensor(k)
        return tensors, meta

    if os.path.isfile(path):
        return read(path)
    index_files = [n for n in os.listdir(path) if n.endswith(".safetensors.index.json")]
    if index_files:
        with open(os.path.join(path, index_files[0])) as f:
            index = json.load(f)
        out, meta0 = {}, None
        for fname in sorted(set(index["weight_map"].values())):
            t, m = read(os.path.join(path, fname))
            out.update(t)
            meta0 = meta0 if meta0 is not None else m
        missing = set(index["weight_map"]) - set(out)
        if missing:
            raise ValueError(f"{path}: index lists tensors missing from the shards: {sorted(missing)[:5]}")
        return out, meta0 or {}
    singles = [n for n in os.listdir(path) if n.endswith(".safetensors")]
    if len(singles) != 1:
        raise ValueError(f"{path}: expected one .safetensors file or an index, found {singles}")
    return read(os.path.join(path, singles[0]))


def to_compute(sd: dict[str, torch.Tensor], dtype: torch.dtype, device: str | torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device=device, dtype=dtype) for k, v in sd.items()}


def record(trace: Callable[[str, torch.Tensor], None] | None, name: str, value: torch.Tensor) -> None:
    """Hand an intermediate to the golden writer's tracer (no-op when tracing is off)."""
    if trace is not None:
        trace(name, value)
