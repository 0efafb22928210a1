#!/usr/bin/env python3
"""Full-size FLUX.1-dev-shaped parity: writes a random-weight checkpoint in Black Forest Labs' single-file layout
(bf16, real tensor names, ~23.8 GB) and a golden file with the float32 reference's output at one resolution.

    python3 bench/reference/flux_fullsize_parity.py --ckpt /tmp/flux-random.safetensors \
        --golden /tmp/flux-parity-1024.safetensors --res 1024 --txt 512

Then, on the same machine:  node bin/dit.js parity /tmp/flux-random.safetensors /tmp/flux-parity-1024.safetensors
(our loader reads the 24 GB file through the streaming reader, so the same run also measures load time and RSS).
Weights: matrices N(0, 1/fan_in) (activations stay O(1) through 57 blocks), biases N(0, 0.02^2), QK-norm scales
1 + 0.1 N(0,1); stored in bf16, and the reference computes in float32 from exactly those bf16 values.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from common import rel_l2  # noqa: E402
from flux_ref import FLUX_DEV, flux_forward, flux_param_shapes, make_img_ids, make_txt_ids, patchify, unpatchify  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--golden", required=True)
    ap.add_argument("--res", type=int, default=1024)
    ap.add_argument("--txt", type=int, default=512)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    cfg = FLUX_DEV
    dev = "cuda"
    t0 = time.time()
    gen = torch.Generator(device=dev).manual_seed(a.seed)
    host: dict[str, torch.Tensor] = {}
    W32: dict[str, torch.Tensor] = {}
    for name, shape in sorted(flux_param_shapes(cfg).items()):
        if len(shape) >= 2:
            t = torch.randn(shape, generator=gen, device=dev) / math.sqrt(math.prod(shape[1:]))
        elif name.endswith(".scale"):
            t = 1.0 + 0.1 * torch.randn(shape, generator=gen, device=dev)
        else:
            t = 0.02 * torch.randn(shape, generator=gen, device=dev)
        b = t.to(torch.bfloat16)
        host[name] = b.cpu()
        W32[name] = b.float()
        del t, b
    print(f"weights generated in {time.time() - t0:.1f} s", flush=True)
    t1 = time.time()
    save_file(host, a.ckpt)
    del host
    print(f"wrote {a.ckpt} ({os.path.getsize(a.ckpt) / 1e9:.2f} GB) in {time.time() - t1:.1f} s", flush=True)

    g = torch.Generator(device="cpu").manual_seed(a.seed + 1)
    h = w = a.res // 16
    latents = torch.randn(1, 16, 2 * h, 2 * w, generator=g)
    img = patchify(latents)
    txt = torch.randn(1, a.txt, cfg.context_in_dim, generator=g)
    y = torch.randn(1, cfg.vec_in_dim, generator=g)
    t = torch.tensor([0.6])
    guidance = torch.tensor([3.5])
    with torch.inference_mode():
        t2 = time.time()
        out = flux_forward(W32, cfg, img.to(dev), make_img_ids(h, w, dtype=torch.float32).to(dev), txt.to(dev),
                           make_txt_ids(a.txt, dtype=torch.float32).to(dev), t.to(dev), y.to(dev), guidance.to(dev), use_sdpa=True)
        torch.cuda.synchronize()
        print(f"float32 reference forward {time.time() - t2:.2f} s", flush=True)
        Wb = W32  # converted in place, one tensor at a time: f32 + bf16 copies together would not fit in 80 GB
        for k in list(Wb):
            Wb[k] = Wb[k].to(torch.bfloat16)
        outb = flux_forward(Wb, cfg, img.to(dev), make_img_ids(h, w, dtype=torch.float32).to(dev), txt.to(dev),
                            make_txt_ids(a.txt, dtype=torch.float32).to(dev), t.to(dev), y.to(dev), guidance.to(dev), use_sdpa=True)
        print(f"bf16+SDPA vs float32 relL2 {rel_l2(outb.float().cpu(), out.float().cpu()):.3e} (PyTorch's own 16-bit error)", flush=True)
    out = out.float().cpu()
    save_file({
        "input.latents": latents.contiguous(), "input.img": img.contiguous(), "input.txt": txt.contiguous(), "input.y": y,
        "input.timesteps": t, "input.guidance": guidance, "output.velocity_packed": out.contiguous(),
        "output.velocity": unpatchify(out, h, w).contiguous(),
    }, a.golden)
    print(f"wrote {a.golden}; output std {out.std():.4f}, finite {bool(torch.isfinite(out).all())}", flush=True)


if __name__ == "__main__":
    main()
