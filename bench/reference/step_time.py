"""Time ONE denoising step (one transformer evaluation, batch 1) of full-size models with random weights in PyTorch
eager, bf16, SDPA attention: the baseline that `dit bench model` is compared with.

    python3 bench/reference/step_time.py --flux-res 512,1024,2048 --sd3-res 1024 --out results.json

FLUX.1-dev shape: 19 double + 38 single blocks, hidden 3072, 24 heads of 128, guidance embedding, T5 context 4096
(--text-len tokens, default 512), pooled 768. SD3-medium shape: 24 joint blocks, hidden 1536, 24 heads of 64,
context 4096 (--sd3-text-len tokens, default 333 = 77 CLIP + 256 T5 as the diffusers SD3 pipeline builds it),
pooled 2048, pos_embed_max_size 192. Per resolution: --warmup runs, then --iters timed runs (CUDA events around
each step, synchronised); reports the median and min ms, the estimated FLOPs and TFLOP/s, peak GPU memory
(torch.cuda.max_memory_allocated, weights included) and the weights' bytes. Prints one JSON document.

FLOP estimate (multiply-add = 2): per block and token 24*h^2 (qkv 6h^2 + out 2h^2 + MLP 16h^2; FLUX single blocks
14h^2 + 10h^2) plus attention 4*L^2*h per block (QK^T and PV over all L tokens), plus the input/output
projections; modulation and embedding MLPs on the [1, h] vector are ignored (negligible).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from common import dit_step_flops, init_weights_fast  # noqa: E402
from flux_ref import FLUX_DEV, flux_forward, flux_param_shapes, make_img_ids, make_txt_ids  # noqa: E402
from sd3_ref import SD3_MEDIUM, sd3_forward, sd3_param_shapes, sincos_pos_embed_table  # noqa: E402


def flux_flops(cfg, l_img: int, l_txt: int) -> float:
    return dit_step_flops(cfg.hidden_size, cfg.depth + cfg.depth_single_blocks, l_img, l_txt, cfg.in_channels, cfg.context_in_dim, cfg.out_channels)


def sd3_flops(cfg, l_img: int, l_txt: int) -> float:
    p2c = cfg.patch_size**2 * cfg.in_channels
    return dit_step_flops(cfg.hidden, cfg.num_layers, l_img, l_txt, p2c, cfg.joint_attention_dim, p2c)


def time_step(fn, warmup: int, iters: int) -> dict:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        for _ in range(warmup):
            out = fn()
        torch.cuda.synchronize()
        times = []
        for _ in range(iters):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            out = fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
    finite = bool(torch.isfinite(out).all())
    return {
        "ms_median": statistics.median(times),
        "ms_min": min(times),
        "ms_all": [round(t, 3) for t in times],
        "peak_mem_bytes": torch.cuda.max_memory_allocated(),
        "output_finite": finite,
    }


def bench_flux(resolutions, text_len, warmup, iters, deadline, log) -> list[dict]:
    cfg = FLUX_DEV
    t0 = time.time()
    W = init_weights_fast(flux_param_shapes(cfg), "cuda", torch.bfloat16)
    weight_bytes = sum(v.numel() * v.element_size() for v in W.values())
    log(f"flux weights {weight_bytes / 1e9:.2f} GB made in {time.time() - t0:.1f}s")
    g = torch.Generator(device="cuda").manual_seed(1)
    results = []
    for res in resolutions:
        if time.time() > deadline:
            log(f"flux {res}: skipped (time budget)")
            results.append({"model": "flux1-dev-shape", "resolution": res, "skipped": "time budget"})
            continue
        h_tok = w_tok = res // 16
        l_img = h_tok * w_tok
        img = torch.randn(1, l_img, cfg.in_channels, generator=g, device="cuda", dtype=torch.bfloat16)
        txt = torch.randn(1, text_len, cfg.context_in_dim, generator=g, device="cuda", dtype=torch.bfloat16)
        y = torch.randn(1, cfg.vec_in_dim, generator=g, device="cuda", dtype=torch.bfloat16)
        img_ids = make_img_ids(h_tok, w_tok, dtype=torch.float32).cuda()
        txt_ids = make_txt_ids(text_len, dtype=torch.float32).cuda()
        t = torch.tensor([0.5], device="cuda")
        gd = torch.tensor([3.5], device="cuda")
        fn = lambda: flux_forward(W, cfg, img, img_ids, txt, txt_ids, t, y, gd, use_sdpa=True)  # noqa: E731
        r = time_step(fn, warmup, iters)
        flops = flux_flops(cfg, l_img, text_len)
        r.update(
            model="flux1-dev-shape", resolution=res, image_tokens=l_img, text_tokens=text_len,
            flops=flops, tflops_per_s=flops / (r["ms_median"] * 1e-3) / 1e12, weight_bytes=weight_bytes,
        )
        log(f"flux {res}: {r['ms_median']:.1f} ms median, {r['tflops_per_s']:.0f} TFLOP/s, peak {r['peak_mem_bytes'] / 2**30:.1f} GiB")
        results.append(r)
        del img, txt, y
    del W
    torch.cuda.empty_cache()
    return results


def bench_sd3(resolutions, text_len, warmup, iters, deadline, log) -> list[dict]:
    cfg = SD3_MEDIUM
    W = init_weights_fast(sd3_param_shapes(cfg, include_pos_embed=False), "cuda", torch.bfloat16)
    weight_bytes = sum(v.numel() * v.element_size() for v in W.values())
    pos_table = sincos_pos_embed_table(cfg).to("cuda", torch.bfloat16)
    g = torch.Generator(device="cuda").manual_seed(2)
    results = []
    for res in resolutions:
        if time.time() > deadline:
            results.append({"model": "sd3-medium-shape", "resolution": res, "skipped": "time budget"})
            continue
        lat = res // 8
        latents = torch.randn(1, cfg.in_channels, lat, lat, generator=g, device="cuda", dtype=torch.bfloat16)
        ehs = torch.randn(1, text_len, cfg.joint_attention_dim, generator=g, device="cuda", dtype=torch.bfloat16)
        pooled = torch.randn(1, cfg.pooled_projection_dim, generator=g, device="cuda", dtype=torch.bfloat16)
        ts = torch.tensor([500.0], device="cuda")
        fn = lambda: sd3_forward(W, cfg, latents, ehs, pooled, ts, use_sdpa=True, pos_table=pos_table)  # noqa: E731
        r = time_step(fn, warmup, iters)
        l_img = (lat // cfg.patch_size) ** 2
        flops = sd3_flops(cfg, l_img, text_len)
        r.update(
            model="sd3-medium-shape", resolution=res, image_tokens=l_img, text_tokens=text_len,
            flops=flops, tflops_per_s=flops / (r["ms_median"] * 1e-3) / 1e12, weight_bytes=weight_bytes,
        )
        log(f"sd3 {res}: {r['ms_median']:.1f} ms median, {r['tflops_per_s']:.0f} TFLOP/s, peak {r['peak_mem_bytes'] / 2**30:.1f} GiB")
        results.append(r)
    del W
    torch.cuda.empty_cache()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flux-res", default="512,1024,2048")
    ap.add_argument("--sd3-res", default="1024")
    ap.add_argument("--text-len", type=int, default=512)
    ap.add_argument("--sd3-text-len", type=int, default=333)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--max-seconds", type=float, default=240.0, help="skip remaining resolutions after this")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("step_time.py needs a CUDA GPU")
    t_start = time.time()
    deadline = t_start + args.max_seconds

    def log(msg: str) -> None:
        print(f"[{time.time() - t_start:6.1f}s] {msg}", file=sys.stderr, flush=True)

    parse = lambda s: [int(x) for x in s.split(",") if x.strip()]  # noqa: E731
    results = []
    if parse(args.sd3_res):
        results += bench_sd3(parse(args.sd3_res), args.sd3_text_len, args.warmup, args.iters, deadline, log)
    if parse(args.flux_res):
        results += bench_flux(parse(args.flux_res), args.text_len, args.warmup, args.iters, deadline, log)
    doc = {
        "what": "PyTorch eager reference, one transformer step, batch 1, random weights, bf16, SDPA",
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "warmup": args.warmup,
        "iters": args.iters,
        "results": results,
    }
    text = json.dumps(doc, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
