"""The tiny test architectures, their seeds and where their files live (shared by make_tiny.py and make_goldens.py).

Sizes are chosen so every file stays under 3 MB while keeping the real structure: FLUX mlp_ratio 4, head_dim a
multiple of 16 with axes_dim in FLUX's 1/8, 7/16, 7/16 proportion; SD3 heads of 64 like SD3-medium.
"""

from __future__ import annotations

from flux_ref import FluxConfig
from sd3_ref import SD3Config

# FLUX.1-dev-like: guidance embedding on. Written twice: BFL single file (bf16) and diffusers folder (f32, 2 shards).
FLUX_TINY = FluxConfig(
    in_channels=64,
    out_channels=64,
    vec_in_dim=32,
    context_in_dim=64,
    hidden_size=128,
    mlp_ratio=4.0,
    num_heads=2,
    depth=1,
    depth_single_blocks=2,
    axes_dim=[8, 28, 28],
    theta=10000,
    qkv_bias=True,
    guidance_embed=True,
)

# FLUX.1-schnell-like: no guidance embedding, two double blocks (stacking), head_dim 32. BFL single file, bf16.
FLUX_TINY_SCHNELL = FluxConfig(
    in_channels=64,
    out_channels=64,
    vec_in_dim=32,
    context_in_dim=64,
    hidden_size=64,
    mlp_ratio=4.0,
    num_heads=2,
    depth=2,
    depth_single_blocks=1,
    axes_dim=[4, 14, 14],
    theta=10000,
    qkv_bias=True,
    guidance_embed=False,
)

# SD3-medium-like: no qk norm, no dual attention; block 0 regular, block 1 context_pre_only. fp16, one file,
# pos_embed.pos_embed buffer stored (diffusers saves it: persistent buffer when pos_embed_max_size is set).
SD3_TINY = SD3Config(
    sample_size=16,
    patch_size=2,
    in_channels=16,
    out_channels=16,
    num_layers=2,
    attention_head_dim=64,
    num_attention_heads=2,
    joint_attention_dim=64,
    caption_projection_dim=128,
    pooled_projection_dim=32,
    pos_embed_max_size=16,
)

# SD3.5-medium-like: qk RMSNorm everywhere, dual attention (attn2 + 9-chunk norm1) in block 0, block 1 regular,
# block 2 context_pre_only. bf16, 2 shards + index, pos_embed buffer NOT stored (the reader must compute it), and
# sample_size 24 so the sin-cos grid scale (max / base = 16 / 12) differs from sd3-tiny's (16 / 8).
SD35_TINY = SD3Config(
    sample_size=24,
    patch_size=2,
    in_channels=16,
    out_channels=16,
    num_layers=3,
    attention_head_dim=64,
    num_attention_heads=2,
    joint_attention_dim=64,
    caption_projection_dim=128,
    pooled_projection_dim=32,
    pos_embed_max_size=16,
    dual_attention_layers=[0],
    qk_norm="rms_norm",
)

SEEDS = {"flux-tiny": 1001, "flux-tiny-schnell": 1002, "sd3-tiny": 1003, "sd35-tiny": 1004}

# Paths relative to the fixtures root (test/fixtures/tiny-models).
PATHS = {
    "flux-tiny": "flux-tiny/flux1-tiny.safetensors",
    "flux-tiny-diffusers": "flux-tiny-diffusers",  # repo-style folder: transformer/config.json + shards + index
    "flux-tiny-schnell": "flux-tiny-schnell/flux1-tiny-schnell.safetensors",
    "sd3-tiny": "sd3-tiny",
    "sd35-tiny": "sd35-tiny",
}
