"""SD3 / SD3.5 MMDiT reference (diffusers SD3Transformer2DModel tensor names), written from the published architecture.

Public API
- SD3Config, SD3_MEDIUM, SD35_MEDIUM, sd3_param_shapes(cfg, include_pos_embed) -> {diffusers name: shape}
- sd3_config_from_json(dict) / sd3_config_to_json(cfg) (transformer/config.json)
- load_sd3(path) -> (cfg, sd)                        (diffusers folder, or its transformer/ folder)
- sincos_pos_embed_table(cfg) -> [max*max, hidden]  (PatchEmbed's buffer, computed when the file lacks it)
- cropped_pos_embed(table, cfg, h_tokens, w_tokens) -> [h*w, hidden]
- sd3_forward(W, cfg, latents, encoder_hidden_states, pooled_projections, timestep, use_sdpa, trace)
      -> velocity [B, C, H, W]

Timestep convention: ``timestep`` is already on the 0..1000 scale (diffusers' SD3 pipeline passes
scheduler.timesteps = sigma * 1000); no extra factor is applied inside (Timesteps(256, flip_sin_to_cos=True,
downscale_freq_shift=0)).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from common import attention, gelu_tanh, layer_norm, linear, load_safetensors_any, record, rms_norm, sinusoidal_embedding


@dataclass
class SD3Config:
    sample_size: int = 128
    patch_size: int = 2
    in_channels: int = 16
    out_channels: int = 16
    num_layers: int = 24
    attention_head_dim: int = 64
    num_attention_heads: int = 24
    joint_attention_dim: int = 4096
    caption_projection_dim: int = 1536
    pooled_projection_dim: int = 2048
    pos_embed_max_size: int = 192
    dual_attention_layers: list[int] = field(default_factory=list)
    qk_norm: str | None = None

    @property
    def hidden(self) -> int:
        return self.num_attention_heads * self.attention_head_dim

    @property
    def base_size(self) -> int:
        """PatchEmbed.base_size = sample_size // patch_size; scales the sin-cos grid (positions i / (max/base))."""
        return self.sample_size // self.patch_size

    def validate(self) -> None:
        if self.caption_projection_dim != self.hidden:
            raise ValueError("caption_projection_dim must equal heads*head_dim (joint attention shares the width)")
        if self.qk_norm not in (None, "rms_norm"):
            raise ValueError(f"qk_norm {self.qk_norm!r} not supported (None or 'rms_norm')")
        if self.hidden % 4:
            raise ValueError("hidden size must be divisible by 4 for the 2D sin-cos embedding")


SD3_MEDIUM = SD3Config()
SD35_MEDIUM = SD3Config(pos_embed_max_size=384, dual_attention_layers=list(range(13)), qk_norm="rms_norm")


def sd3_config_from_json(d: dict) -> SD3Config:
    cfg = SD3Config(
        sample_size=d.get("sample_size", 128),
        patch_size=d.get("patch_size", 2),
        in_channels=d.get("in_channels", 16),
        out_channels=d.get("out_channels") or d.get("in_channels", 16),
        num_layers=d.get("num_layers", 18),
        attention_head_dim=d.get("attention_head_dim", 64),
        num_attention_heads=d.get("num_attention_heads", 18),
        joint_attention_dim=d.get("joint_attention_dim", 4096),
        caption_projection_dim=d.get("caption_projection_dim", 1152),
        pooled_projection_dim=d.get("pooled_projection_dim", 2048),
        pos_embed_max_size=d.get("pos_embed_max_size", 96),
        dual_attention_layers=list(d.get("dual_attention_layers", []) or []),
        qk_norm=d.get("qk_norm"),
    )
    cfg.validate()
    return cfg


def sd3_config_to_json(cfg: SD3Config) -> dict:
    d = {
        "_class_name": "SD3Transformer2DModel",
        "_diffusers_version": "0.32.0",
        "attention_head_dim": cfg.attention_head_dim,
        "caption_projection_dim": cfg.caption_projection_dim,
        "in_channels": cfg.in_channels,
        "joint_attention_dim": cfg.joint_attention_dim,
        "num_attention_heads": cfg.num_attention_heads,
        "num_layers": cfg.num_layers,
        "out_channels": cfg.out_channels,
        "patch_size": cfg.patch_size,
        "pooled_projection_dim": cfg.pooled_projection_dim,
        "pos_embed_max_size": cfg.pos_embed_max_size,
        "sample_size": cfg.sample_size,
    }
    if cfg.dual_attention_layers or cfg.qk_norm:
        d["dual_attention_layers"] = list(cfg.dual_attention_layers)
        d["qk_norm"] = cfg.qk_norm
    return d


# ----------------------------------------------------------------------------------------------------------------
# Tensor names and shapes (diffusers layout)


def sd3_param_shapes(cfg: SD3Config, include_pos_embed: bool = True) -> dict[str, tuple[int, ...]]:
    h, p, hd = cfg.hidden, cfg.patch_size, cfg.attention_head_dim
    ff = 4 * h  # FeedForward(mult=4)
    s: dict[str, tuple[int, ...]] = {}

    def lin(name: str, fan_in: int, fan_out: int):
        s[name + ".weight"] = (fan_out, fan_in)
        s[name + ".bias"] = (fan_out,)

    s["pos_embed.proj.weight"] = (h, cfg.in_channels, p, p)
    s["pos_embed.proj.bias"] = (h,)
    if include_pos_embed:
        s["pos_embed.pos_embed"] = (1, cfg.pos_embed_max_size**2, h)
    lin("time_text_embed.timestep_embedder.linear_1", 256, h)
    lin("time_text_embed.timestep_embedder.linear_2", h, h)
    lin("time_text_embed.text_embedder.linear_1", cfg.pooled_projection_dim, h)
    lin("time_text_embed.text_embedder.linear_2", h, h)
    lin("context_embedder", cfg.joint_attention_dim, cfg.caption_projection_dim)
    for i in range(cfg.num_layers):
        b = f"transformer_blocks.{i}."
        last = i == cfg.num_layers - 1
        dual = i in cfg.dual_attention_layers
        lin(b + "norm1.linear", h, (9 if dual else 6) * h)
        lin(b + "norm1_context.linear", h, (2 if last else 6) * h)
        for n in ("to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj"):
            lin(b + "attn." + n, h, h)
        lin(b + "attn.to_out.0", h, h)
        if not last:
            lin(b + "attn.to_add_out", h, h)
        if cfg.qk_norm:
            for n in ("norm_q", "norm_k", "norm_added_q", "norm_added_k"):
                s[b + f"attn.{n}.weight"] = (hd,)
        if dual:
            for n in ("to_q", "to_k", "to_v"):
                lin(b + "attn2." + n, h, h)
            lin(b + "attn2.to_out.0", h, h)
            if cfg.qk_norm:
                s[b + "attn2.norm_q.weight"] = (hd,)
                s[b + "attn2.norm_k.weight"] = (hd,)
        lin(b + "ff.net.0.proj", h, ff)
        lin(b + "ff.net.2", ff, h)
        if not last:
            lin(b + "ff_context.net.0.proj", h, ff)
            lin(b + "ff_context.net.2", ff, h)
    lin("norm_out.linear", h, 2 * h)
    lin("proj_out", h, p * p * cfg.out_channels)
    return s


def load_sd3(path: str) -> tuple[SD3Config, dict[str, torch.Tensor]]:
    if os.path.isdir(os.path.join(path, "transformer")):
        path = os.path.join(path, "transformer")
    with open(os.path.join(path, "config.json")) as f:
        cfg = sd3_config_from_json(json.load(f))
    sd, _ = load_safetensors_any(path)
    expected = sd3_param_shapes(cfg, include_pos_embed="pos_embed.pos_embed" in sd)
    missing = sorted(set(expected) - set(sd))
    extra = sorted(set(sd) - set(expected))
    if missing or extra:
        raise ValueError(f"{path}: tensors do not match config.json: missing {missing[:5]}, unexpected {extra[:5]}")
    for k, shape in expected.items():
        if tuple(sd[k].shape) != shape:
            raise ValueError(f"{path}: tensor {k} has shape {tuple(sd[k].shape)}, config implies {shape}")
    return cfg, sd


# ----------------------------------------------------------------------------------------------------------------
# Patch embedding with the cropped 2D sin-cos table (diffusers PatchEmbed, pos_embed_max_size set)


def _sincos_1d(dim: int, pos: torch.Tensor) -> torch.Tensor:
    """[sin | cos] of pos * 10000^(-i/(dim/2)), i = 0..dim/2-1 -> [M, dim]."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0))
    out = pos.reshape(-1).to(torch.float64)[:, None] * omega[None, :]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)


def sincos_pos_embed_table(cfg: SD3Config) -> torch.Tensor:
    """[max*max, hidden] float64, row-major over (row, col) of the max x max grid.

    Positions are scaled: coord = index / (max / base_size) with base_size = sample_size // patch_size.
    The FIRST half of the channels encodes the COLUMN (x) coordinate and the second half the ROW: diffusers builds
    np.meshgrid(grid_w, grid_h) ('w goes first') and feeds grid[0] (= column) to the half it calls emb_h.
    """
    n = cfg.pos_embed_max_size
    coord = torch.arange(n, dtype=torch.float64) / (n / cfg.base_size)
    rows = coord[:, None].expand(n, n)
    cols = coord[None, :].expand(n, n)
    half = cfg.hidden // 2
    return torch.cat([_sincos_1d(half, cols), _sincos_1d(half, rows)], dim=1)


def cropped_pos_embed(table: torch.Tensor, cfg: SD3Config, h_tokens: int, w_tokens: int) -> torch.Tensor:
    """Centre crop of the max x max table: top = (max - h)//2, left = (max - w)//2 -> [h*w, hidden]."""
    n = cfg.pos_embed_max_size
    if h_tokens > n or w_tokens > n:
        raise ValueError(f"latent grid {h_tokens}x{w_tokens} patches exceeds pos_embed_max_size {n}")
    top, left = (n - h_tokens) // 2, (n - w_tokens) // 2
    grid = table.reshape(n, n, -1)[top : top + h_tokens, left : left + w_tokens]
    return grid.reshape(h_tokens * w_tokens, -1)


def patch_embed(W: dict, cfg: SD3Config, latents: torch.Tensor) -> torch.Tensor:
    """Conv2d(k = s = patch) as a matmul: patches flattened in (c, ph, pw) order, tokens row-major over (h, w)."""
    B, C, H, Wd = latents.shape
    p = cfg.patch_size
    if H % p or Wd % p:
        raise ValueError(f"latent {H}x{Wd} not divisible by patch size {p}")
    x = latents.reshape(B, C, H // p, p, Wd // p, p).permute(0, 2, 4, 1, 3, 5).reshape(B, (H // p) * (Wd // p), C * p * p)
    w = W["pos_embed.proj.weight"].reshape(cfg.hidden, C * p * p)
    return F.linear(x, w, W["pos_embed.proj.bias"])


def unpatchify(x: torch.Tensor, cfg: SD3Config, h_tokens: int, w_tokens: int) -> torch.Tensor:
    """proj_out features are ordered (ph, pw, c) -- unlike FLUX's (c, ph, pw): 'nhwpqc -> nchpwq'."""
    B = x.shape[0]
    p, C = cfg.patch_size, cfg.out_channels
    x = x.reshape(B, h_tokens, w_tokens, p, p, C).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(B, C, h_tokens * p, w_tokens * p)


# ----------------------------------------------------------------------------------------------------------------
# Blocks


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    B, L, HD = x.shape
    return x.reshape(B, L, heads, HD // heads).transpose(1, 2)


def _qkv(W, prefix: str, x: torch.Tensor, cfg: SD3Config, names=("to_q", "to_k", "to_v"), norms=("norm_q", "norm_k")):
    H = cfg.num_attention_heads
    q = _heads(linear(x, W, prefix + names[0]), H)
    k = _heads(linear(x, W, prefix + names[1]), H)
    v = _heads(linear(x, W, prefix + names[2]), H)
    if prefix + norms[0] + ".weight" in W:
        q = rms_norm(q, W[prefix + norms[0] + ".weight"])
        k = rms_norm(k, W[prefix + norms[1] + ".weight"])
    return q, k, v


def _ff(W, prefix: str, x: torch.Tensor) -> torch.Tensor:
    return linear(gelu_tanh(linear(x, W, prefix + "net.0.proj")), W, prefix + "net.2")


def joint_block(W, i: int, x: torch.Tensor, ctx: torch.Tensor, temb: torch.Tensor, cfg: SD3Config, use_sdpa: bool):
    b = f"transformer_blocks.{i}."
    last = i == cfg.num_layers - 1
    dual = i in cfg.dual_attention_layers
    silu_t = F.silu(temb)

    # norm1: AdaLayerNormZero (6 chunks) or SD35AdaLayerNormZeroX (9 chunks); order as in the file.
    mods = [m[:, None, :] for m in linear(silu_t, W, b + "norm1.linear").chunk(9 if dual else 6, dim=1)]
    shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mods[:6]
    nx = layer_norm(x)
    x_attn_in = nx * (1 + scale_msa) + shift_msa
    if dual:
        shift_msa2, scale_msa2, gate_msa2 = mods[6:]
        x_attn2_in = nx * (1 + scale_msa2) + shift_msa2  # from the block INPUT, not after the first attention

    # norm1_context: AdaLayerNormContinuous (scale, shift) in the last block, else AdaLayerNormZero.
    if last:
        c_scale, c_shift = [m[:, None, :] for m in linear(silu_t, W, b + "norm1_context.linear").chunk(2, dim=1)]
        c_in = layer_norm(ctx) * (1 + c_scale) + c_shift
    else:
        cm = [m[:, None, :] for m in linear(silu_t, W, b + "norm1_context.linear").chunk(6, dim=1)]
        c_shift_msa, c_scale_msa, c_gate_msa, c_shift_mlp, c_scale_mlp, c_gate_mlp = cm
        c_in = layer_norm(ctx) * (1 + c_scale_msa) + c_shift_msa

    # Joint attention over [image, context] (IMAGE FIRST, unlike FLUX), no positional rotation.
    q, k, v = _qkv(W, b + "attn.", x_attn_in, cfg)
    cq, ck, cv = _qkv(W, b + "attn.", c_in, cfg, ("add_q_proj", "add_k_proj", "add_v_proj"), ("norm_added_q", "norm_added_k"))
    out = attention(torch.cat([q, cq], dim=2), torch.cat([k, ck], dim=2), torch.cat([v, cv], dim=2), use_sdpa)
    L_img = x.shape[1]
    x_attn, c_attn = out[:, :L_img], out[:, L_img:]

    x = x + gate_msa * linear(x_attn, W, b + "attn.to_out.0")
    if dual:
        q2, k2, v2 = _qkv(W, b + "attn2.", x_attn2_in, cfg)
        x = x + gate_msa2 * linear(attention(q2, k2, v2, use_sdpa), W, b + "attn2.to_out.0")
    x = x + gate_mlp * _ff(W, b + "ff.", layer_norm(x) * (1 + scale_mlp) + shift_mlp)

    if last:
        return x, None  # context_pre_only: the text stream ends here (no to_add_out, no ff_context)
    ctx = ctx + c_gate_msa * linear(c_attn, W, b + "attn.to_add_out")
    ctx = ctx + c_gate_mlp * _ff(W, b + "ff_context.", layer_norm(ctx) * (1 + c_scale_mlp) + c_shift_mlp)
    return x, ctx


def sd3_forward(
    W: dict[str, torch.Tensor],
    cfg: SD3Config,
    latents: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    pooled_projections: torch.Tensor,
    timestep: torch.Tensor,
    use_sdpa: bool = False,
    trace=None,
    pos_table: torch.Tensor | None = None,
) -> torch.Tensor:
    """latents [B, C, H, W]; encoder_hidden_states [B, L, joint_attention_dim]; pooled [B, pooled_dim];
    timestep [B] on the 0..1000 scale. Returns the velocity [B, out_channels, H, W]."""
    dtype = W["proj_out.weight"].dtype
    B, C, H, Wd = latents.shape
    h_tok, w_tok = H // cfg.patch_size, Wd // cfg.patch_size

    x = patch_embed(W, cfg, latents.to(dtype))
    if pos_table is None:
        pos_table = W["pos_embed.pos_embed"][0] if "pos_embed.pos_embed" in W else sincos_pos_embed_table(cfg)
    pe = cropped_pos_embed(pos_table, cfg, h_tok, w_tok).to(device=x.device, dtype=dtype)
    record(trace, "pos_embed_cropped", pe)
    x = x + pe[None]
    record(trace, "patch_embed", x)

    t_emb = sinusoidal_embedding(timestep.double()).to(dtype)
    temb = linear(F.silu(linear(t_emb, W, "time_text_embed.timestep_embedder.linear_1")), W, "time_text_embed.timestep_embedder.linear_2")
    temb = temb + linear(
        F.silu(linear(pooled_projections.to(dtype), W, "time_text_embed.text_embedder.linear_1")),
        W,
        "time_text_embed.text_embedder.linear_2",
    )
    record(trace, "temb", temb)
    ctx = linear(encoder_hidden_states.to(dtype), W, "context_embedder")
    record(trace, "context", ctx)

    for i in range(cfg.num_layers):
        x, ctx = joint_block(W, i, x, ctx, temb, cfg, use_sdpa)
        record(trace, f"block{i}.img", x)
        if ctx is not None:
            record(trace, f"block{i}.txt", ctx)

    # norm_out: AdaLayerNormContinuous, chunks (scale, shift).
    scale, shift = linear(F.silu(temb), W, "norm_out.linear").chunk(2, dim=1)
    x = layer_norm(x) * (1 + scale[:, None, :]) + shift[:, None, :]
    record(trace, "norm_out", x)
    x = linear(x, W, "proj_out")
    record(trace, "proj_out", x)
    return unpatchify(x, cfg, h_tok, w_tok)
