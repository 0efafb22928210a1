"""Full-size FLUX.1 VAE (AutoencoderKL, random weights) on the GPU machine: the checkpoint our engine loads, the
float32 PyTorch decode it is compared with, and PyTorch's decode times (float32 and bf16) in the same run.

    PYTHONPATH=<diffusers src> python3 bench/reference/vae_fullsize.py --ckpt /tmp/vae-flux-random \
        --golden /tmp/vae-golden-1024.safetensors --res 1024 --time-res 512,1024 --out $OUT/vae-torch.json

Writes (big files outside $OUT):
  <ckpt>/vae/config.json + diffusion_pytorch_model.safetensors   FLUX.1's vae/config.json architecture, bf16 weights
  <golden>   input.latents [1, 16, res/8, res/8] (the DiT's latent space, seeded) and output.image [1, 3, res, res]:
             decoder(latents / scaling + shift) in float32 on the GPU with TF32 off (the parity reference)
  <out>      JSON: per resolution, median decode ms in float32 and in bf16 (cudnn.benchmark on, eager), peak memory,
             and how far the bf16 decode lands from the float32 one (relL2) as a yardstick for a 16-bit engine.
Random weights: convs ~ N(0, (1.2 / sqrt(fan_in))^2), norm scales 1 + 0.2 N, biases 0.1 N (diffusers' init would
give zero biases and unit norms), bf16-rounded and reloaded, so the reference sees exactly the stored weights.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
from safetensors.torch import save_file

from diffusers import AutoencoderKL

FLUX_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=16, block_out_channels=[128, 256, 512, 512], layers_per_block=2,
    norm_num_groups=32, act_fn="silu", scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False,
    use_post_quant_conv=False, mid_block_add_attention=True, sample_size=1024,
    down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
)


def randomise(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            n = torch.randn(p.shape, generator=g)
            if p.ndim > 1:
                v = n * (1.2 / p[0].numel() ** 0.5)
            elif "norm" in name and name.endswith("weight"):
                v = 1 + 0.2 * n
            else:
                v = 0.1 * n
            p.copy_(v)


def rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm())


def time_decode(model, z: torch.Tensor, reps: int) -> tuple[float, list[float], int]:
    cuda = z.is_cuda
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        for _ in range(2):
            model.decode(z)
        sync()
        samples = []
        for _ in range(reps):
            t0 = time.perf_counter()
            model.decode(z)
            sync()
            samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples), samples, torch.cuda.max_memory_allocated() if cuda else 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default="/tmp/vae-flux-random")
    ap.add_argument("--golden", default="/tmp/vae-golden-1024.safetensors")
    ap.add_argument("--res", type=int, default=1024, help="resolution of the parity golden")
    ap.add_argument("--time-res", default="512,1024", help="resolutions timed (comma separated)")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda", help="cpu: local dry run of everything but the GPU (use with --tiny)")
    ap.add_argument("--tiny", action="store_true", help="a toy-width config (local dry runs)")
    args = ap.parse_args()
    dev = args.device
    assert dev == "cpu" or torch.cuda.is_available(), "needs a CUDA GPU (or --device cpu for a dry run)"
    cfg = dict(FLUX_VAE, block_out_channels=[32, 32, 64, 64], layers_per_block=1) if args.tiny else FLUX_VAE
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    t0 = time.time()
    model = AutoencoderKL(**cfg)
    randomise(model, args.seed)
    vae_dir = os.path.join(args.ckpt, "vae")
    model.to(torch.bfloat16).save_pretrained(vae_dir, safe_serialization=True)
    del model
    ref = AutoencoderKL.from_pretrained(vae_dir, torch_dtype=torch.bfloat16).to(dev, torch.float32).eval()
    print(f"checkpoint {vae_dir}: {sum(p.numel() for p in ref.parameters()) / 1e6:.1f} M params ({time.time() - t0:.0f} s)")

    sf, sh = ref.config.scaling_factor, ref.config.shift_factor
    g = torch.Generator().manual_seed(args.seed + 1)
    lat = torch.randn(1, 16, args.res // 8, args.res // 8, generator=g)
    with torch.inference_mode():
        img32 = ref.decode((lat / sf + sh).to(dev)).sample.float()
    save_file({"input.latents": lat.contiguous(), "output.image": img32.cpu().contiguous()}, args.golden,
              metadata={"scaling_factor": str(sf), "shift_factor": str(sh)})
    print(f"golden {args.golden}: image {list(img32.shape)} std {img32.std():.3f}")

    rows = []
    bf = AutoencoderKL.from_pretrained(vae_dir, torch_dtype=torch.bfloat16).to(dev).eval()
    torch.backends.cudnn.benchmark = True  # bf16 timing: cuDNN picks its fastest algorithms (fp32 runs already cached its golden)
    for res in [int(r) for r in args.time_res.split(",") if r]:
        z = torch.randn(1, 16, res // 8, res // 8, generator=g).to(dev) / sf + sh
        ms32, s32, mem32 = time_decode(ref, z, args.reps)
        msbf, sbf, membf = time_decode(bf, z.bfloat16(), args.reps)
        with torch.inference_mode():
            err = rel_l2(bf.decode(z.bfloat16()).sample.float(), ref.decode(z).sample.float()) if res == args.res else None
        rows.append(dict(resolution=res, fp32_ms=ms32, fp32_samples=s32, fp32_peak_bytes=mem32, bf16_ms=msbf,
                         bf16_samples=sbf, bf16_peak_bytes=membf, bf16_vs_fp32_relL2=err))
        print(f"{res}²: fp32 {ms32:.1f} ms (peak {mem32 / 2**30:.2f} GiB), bf16 {msbf:.1f} ms (peak {membf / 2**30:.2f} GiB)"
              + (f", bf16 vs fp32 relL2 {err:.2e}" if err is not None else ""))
    out = dict(device=torch.cuda.get_device_name() if dev == "cuda" else "cpu", torch=torch.__version__, config=cfg, results=rows)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
