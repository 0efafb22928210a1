"""FLUX.1 transformer reference (Black Forest Labs' tensor names), written from the published architecture.

Public API
- FluxConfig, FLUX_DEV, FLUX_SCHNELL, flux_param_shapes(cfg) -> {BFL name: shape}
- infer_flux_config(sd, metadata) -> FluxConfig     (depth, width, heads, guidance read from the tensors)
- diffusers_to_bfl(sd) / bfl_to_diffusers(sd, cfg)  (exact tensor re-layout, no arithmetic)
- load_flux(path) -> (cfg, sd_bfl)                  (BFL single file, or diffusers folder / transformer/ folder)
- patchify(latents) / unpatchify(packed, h, w), make_img_ids(h, w), make_txt_ids(L)
- rope_tables(ids, axes_dim, theta) -> (cos, sin) [B, L, head_dim/2]
- flux_forward(W, cfg, img, img_ids, txt, txt_ids, timesteps, y, guidance, use_sdpa, trace) -> [B, L_img, out]

Timestep convention: ``timesteps`` and ``guidance`` are the raw values (t in [0, 1], guidance e.g. 3.5); both are
multiplied by 1000 inside before the 256-wide sinusoidal embedding (BFL ``timestep_embedding(time_factor=1000)``;
diffusers multiplies by 1000 in FluxTransformer2DModel.forward).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from common import attention, gelu_tanh, layer_norm, linear, load_safetensors_any, record, rms_norm, sinusoidal_embedding


@dataclass
class FluxConfig:
    in_channels: int = 64
    out_channels: int = 64
    vec_in_dim: int = 768
    context_in_dim: int = 4096
    hidden_size: int = 3072
    mlp_ratio: float = 4.0
    num_heads: int = 24
    depth: int = 19
    depth_single_blocks: int = 38
    axes_dim: list[int] = field(default_factory=lambda: [16, 56, 56])
    theta: int = 10000
    qkv_bias: bool = True
    guidance_embed: bool = True

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def mlp_hidden(self) -> int:
        return int(self.hidden_size * self.mlp_ratio)

    def validate(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} not divisible by num_heads {self.num_heads}")
        if sum(self.axes_dim) != self.head_dim or any(a % 2 for a in self.axes_dim):
            raise ValueError(f"axes_dim {self.axes_dim} must be even and sum to head_dim {self.head_dim}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


FLUX_DEV = FluxConfig()
FLUX_SCHNELL = FluxConfig(guidance_embed=False)


def default_axes_dim(head_dim: int) -> list[int]:
    """FLUX.1 splits head_dim 128 as [16, 56, 56]; smaller test models keep the proportions (1/8, 7/16, 7/16)."""
    if head_dim % 16:
        raise ValueError(f"cannot derive axes_dim for head_dim {head_dim}: store 'axes_dim' in the file metadata")
    return [head_dim // 8, 7 * head_dim // 16, 7 * head_dim // 16]


# ----------------------------------------------------------------------------------------------------------------
# Tensor names and shapes (BFL single-file layout, as in flux1-dev.safetensors)


def flux_param_shapes(cfg: FluxConfig) -> dict[str, tuple[int, ...]]:
    h, mlp, hd = cfg.hidden_size, cfg.mlp_hidden, cfg.head_dim
    s: dict[str, tuple[int, ...]] = {}

    def lin(name: str, fan_in: int, fan_out: int, bias: bool = True):
        s[name + ".weight"] = (fan_out, fan_in)
        if bias:
            s[name + ".bias"] = (fan_out,)

    lin("img_in", cfg.in_channels, h)
    lin("time_in.in_layer", 256, h)
    lin("time_in.out_layer", h, h)
    lin("vector_in.in_layer", cfg.vec_in_dim, h)
    lin("vector_in.out_layer", h, h)
    if cfg.guidance_embed:
        lin("guidance_in.in_layer", 256, h)
        lin("guidance_in.out_layer", h, h)
    lin("txt_in", cfg.context_in_dim, h)
    for i in range(cfg.depth):
        p = f"double_blocks.{i}."
        for stream in ("img", "txt"):
            lin(p + f"{stream}_mod.lin", h, 6 * h)
            lin(p + f"{stream}_attn.qkv", h, 3 * h, bias=cfg.qkv_bias)
            s[p + f"{stream}_attn.norm.query_norm.scale"] = (hd,)
            s[p + f"{stream}_attn.norm.key_norm.scale"] = (hd,)
            lin(p + f"{stream}_attn.proj", h, h)
            lin(p + f"{stream}_mlp.0", h, mlp)
            lin(p + f"{stream}_mlp.2", mlp, h)
    for i in range(cfg.depth_single_blocks):
        p = f"single_blocks.{i}."
        lin(p + "linear1", h, 3 * h + mlp)
        lin(p + "linear2", h + mlp, h)
        s[p + "norm.query_norm.scale"] = (hd,)
        s[p + "norm.key_norm.scale"] = (hd,)
        lin(p + "modulation.lin", h, 3 * h)
    lin("final_layer.linear", h, cfg.out_channels)
    lin("final_layer.adaLN_modulation.1", h, 2 * h)
    return s


def infer_flux_config(sd: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> FluxConfig:
    """Read the architecture from BFL-named tensors (+ optional 'axes_dim'/'theta' metadata)."""
    need = ["img_in.weight", "txt_in.weight", "vector_in.in_layer.weight", "final_layer.linear.weight"]
    missing = [n for n in need if n not in sd]
    if missing:
        raise ValueError(f"not a BFL FLUX checkpoint: missing {missing}")
    hidden, in_ch = sd["img_in.weight"].shape
    depth = 1 + max((int(m.group(1)) for k in sd if (m := re.match(r"double_blocks\.(\d+)\.", k))), default=-1)
    single = 1 + max((int(m.group(1)) for k in sd if (m := re.match(r"single_blocks\.(\d+)\.", k))), default=-1)
    if "double_blocks.0.img_attn.norm.query_norm.scale" in sd:
        head_dim = sd["double_blocks.0.img_attn.norm.query_norm.scale"].shape[0]
    else:
        head_dim = sd["single_blocks.0.norm.query_norm.scale"].shape[0]
    mlp_hidden = (
        sd["double_blocks.0.img_mlp.0.weight"].shape[0]
        if depth > 0
        else sd["single_blocks.0.linear1.weight"].shape[0] - 3 * hidden
    )
    meta = metadata or {}
    axes = json.loads(meta["axes_dim"]) if "axes_dim" in meta else default_axes_dim(head_dim)
    cfg = FluxConfig(
        in_channels=in_ch,
        out_channels=sd["final_layer.linear.weight"].shape[0],
        vec_in_dim=sd["vector_in.in_layer.weight"].shape[1],
        context_in_dim=sd["txt_in.weight"].shape[1],
        hidden_size=hidden,
        mlp_ratio=mlp_hidden / hidden,
        num_heads=hidden // head_dim,
        depth=depth,
        depth_single_blocks=single,
        axes_dim=axes,
        theta=int(meta.get("theta", 10000)),
        qkv_bias=(depth == 0) or ("double_blocks.0.img_attn.qkv.bias" in sd),
        guidance_embed="guidance_in.in_layer.weight" in sd,
    )
    cfg.validate()
    return cfg


# ----------------------------------------------------------------------------------------------------------------
# diffusers <-> BFL names (FluxTransformer2DModel). Pure re-layout: concatenations and one half-swap.


def _swap_halves(t: torch.Tensor) -> torch.Tensor:
    """diffusers AdaLayerNormContinuous chunks (scale, shift); BFL LastLayer chunks (shift, scale)."""
    a, b = t.chunk(2, dim=0)
    return torch.cat([b, a], dim=0)


def diffusers_to_bfl(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()

    def take(name: str) -> torch.Tensor:
        if name not in sd:
            raise KeyError(f"diffusers FLUX checkpoint is missing tensor '{name}'")
        used.add(name)
        return sd[name]

    def copy(src: str, dst: str, bias: bool = True):
        out[dst + ".weight"] = take(src + ".weight")
        if bias and src + ".bias" in sd:
            out[dst + ".bias"] = take(src + ".bias")

    def cat(srcs: list[str], dst: str):
        out[dst + ".weight"] = torch.cat([take(s + ".weight") for s in srcs], dim=0)
        if all(s + ".bias" in sd for s in srcs):
            out[dst + ".bias"] = torch.cat([take(s + ".bias") for s in srcs], dim=0)

    copy("x_embedder", "img_in")
    copy("context_embedder", "txt_in")
    copy("time_text_embed.timestep_embedder.linear_1", "time_in.in_layer")
    copy("time_text_embed.timestep_embedder.linear_2", "time_in.out_layer")
    copy("time_text_embed.text_embedder.linear_1", "vector_in.in_layer")
    copy("time_text_embed.text_embedder.linear_2", "vector_in.out_layer")
    if "time_text_embed.guidance_embedder.linear_1.weight" in sd:
        copy("time_text_embed.guidance_embedder.linear_1", "guidance_in.in_layer")
        copy("time_text_embed.guidance_embedder.linear_2", "guidance_in.out_layer")
    depth = 1 + max((int(m.group(1)) for k in sd if (m := re.match(r"transformer_blocks\.(\d+)\.", k))), default=-1)
    single = 1 + max(
        (int(m.group(1)) for k in sd if (m := re.match(r"single_transformer_blocks\.(\d+)\.", k))), default=-1
    )
    for i in range(depth):
        s, d = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        copy(s + "norm1.linear", d + "img_mod.lin")
        copy(s + "norm1_context.linear", d + "txt_mod.lin")
        cat([s + "attn.to_q", s + "attn.to_k", s + "attn.to_v"], d + "img_attn.qkv")
        cat([s + "attn.add_q_proj", s + "attn.add_k_proj", s + "attn.add_v_proj"], d + "txt_attn.qkv")
        out[d + "img_attn.norm.query_norm.scale"] = take(s + "attn.norm_q.weight")
        out[d + "img_attn.norm.key_norm.scale"] = take(s + "attn.norm_k.weight")
        out[d + "txt_attn.norm.query_norm.scale"] = take(s + "attn.norm_added_q.weight")
        out[d + "txt_attn.norm.key_norm.scale"] = take(s + "attn.norm_added_k.weight")
        copy(s + "attn.to_out.0", d + "img_attn.proj")
        copy(s + "attn.to_add_out", d + "txt_attn.proj")
        copy(s + "ff.net.0.proj", d + "img_mlp.0")
        copy(s + "ff.net.2", d + "img_mlp.2")
        copy(s + "ff_context.net.0.proj", d + "txt_mlp.0")
        copy(s + "ff_context.net.2", d + "txt_mlp.2")
    for i in range(single):
        s, d = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        cat([s + "attn.to_q", s + "attn.to_k", s + "attn.to_v", s + "proj_mlp"], d + "linear1")
        copy(s + "proj_out", d + "linear2")
        out[d + "norm.query_norm.scale"] = take(s + "attn.norm_q.weight")
        out[d + "norm.key_norm.scale"] = take(s + "attn.norm_k.weight")
        copy(s + "norm.linear", d + "modulation.lin")
    copy("proj_out", "final_layer.linear")
    out["final_layer.adaLN_modulation.1.weight"] = _swap_halves(take("norm_out.linear.weight"))
    out["final_layer.adaLN_modulation.1.bias"] = _swap_halves(take("norm_out.linear.bias"))
    unused = sorted(set(sd) - used)
    if unused:
        raise ValueError(f"diffusers FLUX checkpoint has tensors this converter does not know: {unused[:8]}")
    return out


def bfl_to_diffusers(sd: dict[str, torch.Tensor], cfg: FluxConfig) -> dict[str, torch.Tensor]:
    """Inverse of diffusers_to_bfl (used to write the diffusers-layout test checkpoint)."""
    h, mlp = cfg.hidden_size, cfg.mlp_hidden
    out: dict[str, torch.Tensor] = {}

    def copy(src: str, dst: str):
        out[dst + ".weight"] = sd[src + ".weight"]
        if src + ".bias" in sd:
            out[dst + ".bias"] = sd[src + ".bias"]

    def split(src: str, dsts: list[str], sizes: list[int]):
        for dst, w in zip(dsts, sd[src + ".weight"].split(sizes, dim=0)):
            out[dst + ".weight"] = w.clone()
        if src + ".bias" in sd:
            for dst, b in zip(dsts, sd[src + ".bias"].split(sizes, dim=0)):
                out[dst + ".bias"] = b.clone()

    copy("img_in", "x_embedder")
    copy("txt_in", "context_embedder")
    copy("time_in.in_layer", "time_text_embed.timestep_embedder.linear_1")
    copy("time_in.out_layer", "time_text_embed.timestep_embedder.linear_2")
    copy("vector_in.in_layer", "time_text_embed.text_embedder.linear_1")
    copy("vector_in.out_layer", "time_text_embed.text_embedder.linear_2")
    if cfg.guidance_embed:
        copy("guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1")
        copy("guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2")
    for i in range(cfg.depth):
        d, s = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        copy(s + "img_mod.lin", d + "norm1.linear")
        copy(s + "txt_mod.lin", d + "norm1_context.linear")
        split(s + "img_attn.qkv", [d + "attn.to_q", d + "attn.to_k", d + "attn.to_v"], [h, h, h])
        split(s + "txt_attn.qkv", [d + "attn.add_q_proj", d + "attn.add_k_proj", d + "attn.add_v_proj"], [h, h, h])
        out[d + "attn.norm_q.weight"] = sd[s + "img_attn.norm.query_norm.scale"]
        out[d + "attn.norm_k.weight"] = sd[s + "img_attn.norm.key_norm.scale"]
        out[d + "attn.norm_added_q.weight"] = sd[s + "txt_attn.norm.query_norm.scale"]
        out[d + "attn.norm_added_k.weight"] = sd[s + "txt_attn.norm.key_norm.scale"]
        copy(s + "img_attn.proj", d + "attn.to_out.0")
        copy(s + "txt_attn.proj", d + "attn.to_add_out")
        copy(s + "img_mlp.0", d + "ff.net.0.proj")
        copy(s + "img_mlp.2", d + "ff.net.2")
        copy(s + "txt_mlp.0", d + "ff_context.net.0.proj")
        copy(s + "txt_mlp.2", d + "ff_context.net.2")
    for i in range(cfg.depth_single_blocks):
        d, s = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        split(s + "linear1", [d + "attn.to_q", d + "attn.to_k", d + "attn.to_v", d + "proj_mlp"], [h, h, h, mlp])
        copy(s + "linear2", d + "proj_out")
        out[d + "attn.norm_q.weight"] = sd[s + "norm.query_norm.scale"]
        out[d + "attn.norm_k.weight"] = sd[s + "norm.key_norm.scale"]
        copy(s + "modulation.lin", d + "norm.linear")
    copy("final_layer.linear", "proj_out")
    out["norm_out.linear.weight"] = _swap_halves(sd["final_layer.adaLN_modulation.1.weight"])
    out["norm_out.linear.bias"] = _swap_halves(sd["final_layer.adaLN_modulation.1.bias"])
    return out


def diffusers_config(cfg: FluxConfig) -> dict:
    """transformer/config.json of FluxTransformer2DModel for this architecture."""
    return {
        "_class_name": "FluxTransformer2DModel",
        "_diffusers_version": "0.32.0",
        "attention_head_dim": cfg.head_dim,
        "axes_dims_rope": list(cfg.axes_dim),
        "guidance_embeds": cfg.guidance_embed,
        "in_channels": cfg.in_channels,
        "joint_attention_dim": cfg.context_in_dim,
        "num_attention_heads": cfg.num_heads,
        "num_layers": cfg.depth,
        "num_single_layers": cfg.depth_single_blocks,
        "out_channels": None,
        "patch_size": 1,
        "pooled_projection_dim": cfg.vec_in_dim,
    }


def load_flux(path: str) -> tuple[FluxConfig, dict[str, torch.Tensor]]:
    """BFL single file, or a diffusers folder (the repo root with transformer/, or transformer/ itself)."""
    if os.path.isdir(path) and os.path.isdir(os.path.join(path, "transformer")):
        path = os.path.join(path, "transformer")
    sd, meta = load_safetensors_any(path)
    if os.path.isdir(path):
        with open(os.path.join(path, "config.json")) as f:
            dcfg = json.load(f)
        sd = diffusers_to_bfl(sd)
        meta = dict(meta)
        meta["axes_dim"] = json.dumps(dcfg.get("axes_dims_rope", [16, 56, 56]))
    cfg = infer_flux_config(sd, meta)
    return cfg, sd


# ----------------------------------------------------------------------------------------------------------------
# Packing and position ids (BFL sampling.prepare / unpack)


def patchify(latents: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, (H/2)*(W/2), C*2*2]; token order row-major over (h, w), features ordered (c, ph, pw)."""
    B, C, H, W = latents.shape
    if H % 2 or W % 2:
        raise ValueError(f"latent height/width must be even, got {H}x{W}")
    x = latents.reshape(B, C, H // 2, 2, W // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(B, (H // 2) * (W // 2), C * 4)


def unpatchify(packed: torch.Tensor, h_tokens: int, w_tokens: int) -> torch.Tensor:
    B, L, F4 = packed.shape
    C = F4 // 4
    x = packed.reshape(B, h_tokens, w_tokens, C, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(B, C, h_tokens * 2, w_tokens * 2)


def make_img_ids(h_tokens: int, w_tokens: int, batch: int = 1, dtype=torch.float64) -> torch.Tensor:
    """[B, h*w, 3] with (0, row, col) per image token."""
    ids = torch.zeros(h_tokens, w_tokens, 3, dtype=dtype)
    ids[..., 1] = torch.arange(h_tokens, dtype=dtype)[:, None]
    ids[..., 2] = torch.arange(w_tokens, dtype=dtype)[None, :]
    return ids.reshape(1, h_tokens * w_tokens, 3).repeat(batch, 1, 1)


def make_txt_ids(length: int, batch: int = 1, dtype=torch.float64) -> torch.Tensor:
    return torch.zeros(batch, length, 3, dtype=dtype)


# ----------------------------------------------------------------------------------------------------------------
# RoPE (BFL math.rope / apply_rope; diffusers FluxPosEmbed + apply_rotary_emb(use_real_unbind_dim=-1))


def rope_tables(ids: torch.Tensor, axes_dim: list[int], theta: int) -> tuple[torch.Tensor, torch.Tensor]:
    """ids [B, L, n_axes] -> cos, sin [B, L, head_dim/2] (float64).

    Axis a owns head dims [sum(axes_dim[:a]), sum(axes_dim[:a+1])); inside it, pair j = dims (2j, 2j+1) rotates by
    angle pos_a * theta^(-2j/axes_dim[a]).
    """
    cos_parts, sin_parts = [], []
    for a, dim in enumerate(axes_dim):
        omega = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64, device=ids.device) / dim))
        ang = ids[..., a].to(torch.float64)[..., None] * omega
        cos_parts.append(torch.cos(ang))
        sin_parts.append(torch.sin(ang))
    return torch.cat(cos_parts, dim=-1), torch.cat(sin_parts, dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [B, H, L, D]; pairs (x[2j], x[2j+1]) -> (x0 cos - x1 sin, x0 sin + x1 cos). Math in >= f32 (as BFL)."""
    work = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    xf = x.to(work).reshape(*x.shape[:-1], -1, 2)
    c = cos[:, None].to(work)
    s = sin[:, None].to(work)
    x0, x1 = xf[..., 0], xf[..., 1]
    out = torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1)
    return out.reshape(x.shape).to(x.dtype)


# ----------------------------------------------------------------------------------------------------------------
# Forward


def _split_heads(qkv: torch.Tensor, heads: int):
    """'B L (K H D) -> K B H L D' with K = 3 (BFL rearrange)."""
    B, L, three_hd = qkv.shape
    D = three_hd // (3 * heads)
    x = qkv.reshape(B, L, 3, heads, D).permute(2, 0, 3, 1, 4)
    return x[0], x[1], x[2]


def _modulation(W: dict, name: str, vec: torch.Tensor, n: int):
    """Linear(silu(vec)) chunked into n [B, 1, hidden] pieces, in file order (shift, scale, gate, ...)."""
    return linear(F.silu(vec), W, name)[:, None, :].chunk(n, dim=-1)


def double_block(W, i, img, txt, vec, cos, sin, cfg: FluxConfig, use_sdpa: bool):
    p = f"double_blocks.{i}."
    H = cfg.num_heads
    i_shift1, i_scale1, i_gate1, i_shift2, i_scale2, i_gate2 = _modulation(W, p + "img_mod.lin", vec, 6)
    t_shift1, t_scale1, t_gate1, t_shift2, t_scale2, t_gate2 = _modulation(W, p + "txt_mod.lin", vec, 6)

    img_in = (1 + i_scale1) * layer_norm(img) + i_shift1
    iq, ik, iv = _split_heads(linear(img_in, W, p + "img_attn.qkv"), H)
    iq = rms_norm(iq, W[p + "img_attn.norm.query_norm.scale"]).to(iv.dtype)
    ik = rms_norm(ik, W[p + "img_attn.norm.key_norm.scale"]).to(iv.dtype)

    txt_in = (1 + t_scale1) * layer_norm(txt) + t_shift1
    tq, tk, tv = _split_heads(linear(txt_in, W, p + "txt_attn.qkv"), H)
    tq = rms_norm(tq, W[p + "txt_attn.norm.query_norm.scale"]).to(tv.dtype)
    tk = rms_norm(tk, W[p + "txt_attn.norm.key_norm.scale"]).to(tv.dtype)

    # Joint attention over [txt, img] (text first), RoPE after the QK norm.
    q = apply_rope(torch.cat([tq, iq], dim=2), cos, sin)
    k = apply_rope(torch.cat([tk, ik], dim=2), cos, sin)
    v = torch.cat([tv, iv], dim=2)
    attn = attention(q, k, v, use_sdpa)
    L_txt = txt.shape[1]
    txt_attn, img_attn = attn[:, :L_txt], attn[:, L_txt:]

    img = img + i_gate1 * linear(img_attn, W, p + "img_attn.proj")
    mlp_in = (1 + i_scale2) * layer_norm(img) + i_shift2
    img = img + i_gate2 * linear(gelu_tanh(linear(mlp_in, W, p + "img_mlp.0")), W, p + "img_mlp.2")

    txt = txt + t_gate1 * linear(txt_attn, W, p + "txt_attn.proj")
    mlp_in = (1 + t_scale2) * layer_norm(txt) + t_shift2
    txt = txt + t_gate2 * linear(gelu_tanh(linear(mlp_in, W, p + "txt_mlp.0")), W, p + "txt_mlp.2")
    return img, txt


def single_block(W, i, x, vec, cos, sin, cfg: FluxConfig, use_sdpa: bool):
    p = f"single_blocks.{i}."
    h = cfg.hidden_size
    shift, scale, gate = _modulation(W, p + "modulation.lin", vec, 3)
    x_mod = (1 + scale) * layer_norm(x) + shift
    qkv, mlp = torch.split(linear(x_mod, W, p + "linear1"), [3 * h, cfg.mlp_hidden], dim=-1)
    q, k, v = _split_heads(qkv, cfg.num_heads)
    q = rms_norm(q, W[p + "norm.query_norm.scale"]).to(v.dtype)
    k = rms_norm(k, W[p + "norm.key_norm.scale"]).to(v.dtype)
    attn = attention(apply_rope(q, cos, sin), apply_rope(k, cos, sin), v, use_sdpa)
    out = linear(torch.cat([attn, gelu_tanh(mlp)], dim=2), W, p + "linear2")
    return x + gate * out


def flux_forward(
    W: dict[str, torch.Tensor],
    cfg: FluxConfig,
    img: torch.Tensor,
    img_ids: torch.Tensor,
    txt: torch.Tensor,
    txt_ids: torch.Tensor,
    timesteps: torch.Tensor,
    y: torch.Tensor,
    guidance: torch.Tensor | None = None,
    use_sdpa: bool = False,
    trace=None,
) -> torch.Tensor:
    """One FLUX transformer evaluation. img [B, L_img, in_channels] (packed), txt [B, L_txt, context_in_dim],
    y [B, vec_in_dim], timesteps/guidance [B] raw (t in [0,1]); returns the packed velocity [B, L_img, out]."""
    dtype = W["img_in.weight"].dtype
    img = linear(img.to(dtype), W, "img_in")
    vec = linear(F.silu(linear(sinusoidal_embedding(timesteps.double() * 1000.0).to(dtype), W, "time_in.in_layer")), W, "time_in.out_layer")
    if cfg.guidance_embed:
        if guidance is None:
            raise ValueError("this FLUX checkpoint has a guidance embedding (dev): pass guidance")
        g = sinusoidal_embedding(guidance.double() * 1000.0).to(dtype)
        vec = vec + linear(F.silu(linear(g, W, "guidance_in.in_layer")), W, "guidance_in.out_layer")
    vec = vec + linear(F.silu(linear(y.to(dtype), W, "vector_in.in_layer")), W, "vector_in.out_layer")
    txt = linear(txt.to(dtype), W, "txt_in")
    record(trace, "vec", vec)
    record(trace, "img_in", img)
    record(trace, "txt_in", txt)

    ids = torch.cat([txt_ids, img_ids], dim=1)
    cos, sin = rope_tables(ids, cfg.axes_dim, cfg.theta)
    record(trace, "rope_cos", cos)
    record(trace, "rope_sin", sin)

    for i in range(cfg.depth):
        img, txt = double_block(W, i, img, txt, vec, cos, sin, cfg, use_sdpa)
        record(trace, f"double{i}.img", img)
        record(trace, f"double{i}.txt", txt)

    x = torch.cat([txt, img], dim=1)
    for i in range(cfg.depth_single_blocks):
        x = single_block(W, i, x, vec, cos, sin, cfg, use_sdpa)
        record(trace, f"single{i}", x)
    x = x[:, txt.shape[1] :]

    # LastLayer: chunks are (shift, scale) in BFL order.
    shift, scale = linear(F.silu(vec), W, "final_layer.adaLN_modulation.1").chunk(2, dim=1)
    x = (1 + scale[:, None, :]) * layer_norm(x) + shift[:, None, :]
    record(trace, "final_norm", x)
    return linear(x, W, "final_layer.linear")
