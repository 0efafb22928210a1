"""FLOPs of one `dit generate` with the small model (a saved folder), counted by torch's FlopCounterMode.

    PYTHONPATH=<diffusers>/src python bench/train-small/flops.py <model folder> [--steps 20] [--seq 32]
"""
import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode


def count(fn) -> int:
    with FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops()


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--seq", type=int, default=32, help="T5 max_sequence_length")
    ap.add_argument("--size", type=int, default=128)
    a = ap.parse_args()
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from transformers import CLIPTextModel, T5EncoderModel
    tr = FluxTransformer2DModel.from_pretrained(a.folder, subfolder="transformer", torch_dtype=torch.float32)
    vae = AutoencoderKL.from_pretrained(a.folder, subfolder="vae", torch_dtype=torch.float32)
    clip = CLIPTextModel.from_pretrained(a.folder, subfolder="text_encoder", dtype=torch.float32)
    t5 = T5EncoderModel.from_pretrained(a.folder, subfolder="text_encoder_2", dtype=torch.float32)
    f = 2 ** (len(vae.config.block_out_channels) - 1)
    lh = a.size // f
    n_img = (lh // 2) ** 2
    x = torch.randn(1, n_img, tr.config.in_channels)
    ctx = torch.randn(1, a.seq, tr.config.joint_attention_dim)
    pooled = torch.randn(1, tr.config.pooled_projection_dim)
    ids = torch.zeros(n_img, 3)
    step = count(lambda: tr(hidden_states=x, timestep=torch.tensor([0.5]), guidance=torch.tensor([3.5]),
                            pooled_projections=pooled, encoder_hidden_states=ctx, txt_ids=torch.zeros(a.seq, 3),
                            img_ids=ids))
    dec = count(lambda: vae.decode(torch.randn(1, vae.config.latent_channels, lh, lh)))
    enc_t5 = count(lambda: t5(torch.zeros(1, a.seq, dtype=torch.long)))
    enc_clip = count(lambda: clip(torch.zeros(1, 77, dtype=torch.long)))
    total = a.steps * step + dec + enc_t5 + enc_clip
    print(f"image {a.size}x{a.size}: {n_img} image tokens + {a.seq} text tokens")
    print(f"transformer step {step / 1e9:.3f} GFLOP x {a.steps} steps = {a.steps * step / 1e9:.2f} GFLOP")
    print(f"VAE decode {dec / 1e9:.3f} GFLOP; T5 {enc_t5 / 1e9:.4f} GFLOP; CLIP {enc_clip / 1e9:.4f} GFLOP")
    print(f"total {total / 1e9:.2f} GFLOP: {total / 2.5e9:.1f} s at 2.5 GFLOP/s")


if __name__ == "__main__":
    main()
