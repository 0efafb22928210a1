#!/usr/bin/env python3
"""Time ONE denoising step of diffusers' own FluxTransformer2DModel (FLUX.1-dev config, random weights, bf16,
batch 1), eager and with torch.compile (default mode), per resolution. Prints one JSON document.

    PYTHONPATH=.diffusers-src python3 bench/reference/flux_transformer_step.py --res 512,1024 --out step.json \
        --reference-prefix DIR/diffusers
    /work/pyref/bin/python bench/reference/flux_transformer_step.py --tiny      # CPU smoke test, seconds

This is the baseline issue 13 asks for: the model code is diffusers' (attention through its default processor,
i.e. F.scaled_dot_product_attention), not our re-implementation in step_time.py.

Per resolution and mode: --warmup untimed steps, then --iters timed steps (CUDA events around each step, synchronised;
wall clock on CPU); the median and min ms are reported. torch.compile: the model is compiled once per resolution
(torch._dynamo.reset() in between, so each resolution gets a static-shape graph as a first compile would, instead
of a dynamic-shape recompile on the second size); `compile_s` is the wall time of the first compiled call (the
compile itself), reported apart from the step times. Inductor's cache directory is left as configured
(a warm cache makes compile_s smaller, never the step times).

--reference-prefix P writes P-eager.json and P-compile.json in bench/reference/step_time.py's format
({"device", "results": [{"model", "resolution", "ms_median", ...}]}), which `dit bench model --reference` reads.
--deadline-s stops starting new measurements past that many seconds (rows marked "skipped"); a torch.compile
measurement also needs --compile-min-left-s (default 150) of them left, since a compile cannot be cut short
(FLUX.1-dev at 1024² compiled in 134 s on an H200). The JSON (--out) and the reference files are rewritten after
every measurement ("complete": false until the last), so a run killed by an outer timeout keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import dit_step_flops  # noqa: E402


def write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--res", default="512,1024", help="square resolutions in pixels, comma separated")
    p.add_argument("--text-len", type=int, default=512, help="T5 tokens (FLUX.1-dev pipelines use 512)")
    p.add_argument("--modes", default="eager,compile",
                   help="eager, compile, and/or fbc-compute / fbc-reuse: eager with diffusers' own first-block cache "
                        "(FirstBlockCacheConfig), every step forced down one path (threshold -1: all blocks; 1e9: reuse)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--tiny", action="store_true", help="tiny config on CPU (smoke test of the script itself)")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available, cpu with --tiny)")
    p.add_argument("--deadline-s", type=float, default=1e9, help="do not start a measurement after this many seconds")
    p.add_argument("--compile-min-left-s", type=float, default=150,
                   help="start a compile measurement only with this many seconds left before --deadline-s")
    p.add_argument("--out", default=None, help="write the JSON here as well as to stdout")
    p.add_argument("--reference-prefix", default=None, help="also write PREFIX-eager.json / PREFIX-compile.json (step_time.py format)")
    return p.parse_args(argv)


def flux_config(tiny: bool) -> dict:
    if tiny:
        return dict(patch_size=1, in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=32, num_attention_heads=2,
                    joint_attention_dim=64, pooled_projection_dim=32, guidance_embeds=True, axes_dims_rope=[4, 14, 14])
    # FLUX.1-dev: 19 double + 38 single blocks, 24 heads of 128, T5 4096, CLIP pooled 768, guidance embedding.
    return dict(patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128, num_attention_heads=24,
                joint_attention_dim=4096, pooled_projection_dim=768, guidance_embeds=True, axes_dims_rope=[16, 56, 56])


def flux_flops(cfg: dict, l_img: int, l_txt: int) -> float:
    """The step's FLOPs by the estimate step_time.py and `dit bench model` use (common.dit_step_flops)."""
    h = cfg["attention_head_dim"] * cfg["num_attention_heads"]
    return dit_step_flops(h, cfg["num_layers"] + cfg["num_single_layers"], l_img, l_txt, cfg["in_channels"], cfg["joint_attention_dim"], cfg["in_channels"])


def main(argv=None) -> int:
    args = parse_args(argv)
    t_start = time.time()
    import torch
    import diffusers
    from diffusers import FluxTransformer2DModel

    dev = args.device or ("cpu" if args.tiny or not torch.cuda.is_available() else "cuda")
    cuda = dev == "cuda"
    dtype = torch.bfloat16
    cfg = flux_config(args.tiny)
    resolutions = [int(r) for r in args.res.split(",") if r.strip()]
    if args.tiny and args.res == "512,1024":
        resolutions = [64, 128]  # 16 and 64 image tokens
    text_len = 8 if args.tiny and args.text_len == 512 else args.text_len
    modes = [m for m in args.modes.split(",") if m]
    for m in modes:
        if m not in ("eager", "compile", "fbc-compute", "fbc-reuse"):
            raise SystemExit(f"--modes: unknown mode '{m}' (eager, compile, fbc-compute, fbc-reuse)")
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731

    # Built directly in bf16 on the device (an fp32 FLUX.1-dev would be 48 GB), default random init.
    t0 = time.time()
    torch.manual_seed(0)
    prev = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(dev):
            model = FluxTransformer2DModel(**cfg)
    finally:
        torch.set_default_dtype(prev)
    model = model.to(dtype).eval().requires_grad_(False)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    log(f"FluxTransformer2DModel built on {dev} in {time.time() - t0:.1f} s, {weight_bytes / 1e9:.2f} GB of weights")

    sync = torch.cuda.synchronize if cuda else (lambda: None)

    def inputs(res: int):
        g = torch.Generator(device="cpu").manual_seed(res)
        h = w = res // 16  # VAE /8, then 2x2 patches packed into the 64 channels
        r = lambda *s: torch.randn(*s, generator=g).to(dev, dtype)  # noqa: E731
        img_ids = torch.zeros(h, w, 3)
        img_ids[..., 1] = torch.arange(h)[:, None]
        img_ids[..., 2] = torch.arange(w)[None, :]
        return dict(
            hidden_states=r(1, h * w, cfg["in_channels"]),
            encoder_hidden_states=r(1, text_len, cfg["joint_attention_dim"]),
            pooled_projections=r(1, cfg["pooled_projection_dim"]),
            timestep=torch.tensor([0.5], device=dev, dtype=dtype),
            guidance=torch.tensor([3.5], device=dev, dtype=dtype),
            img_ids=img_ids.reshape(h * w, 3).to(dev),
            txt_ids=torch.zeros(text_len, 3, device=dev),
            return_dict=False,
        )

    def time_steps(fn, n: int) -> list[float]:
        out = []
        for _ in range(n):
            if cuda:
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                y = fn()
                b.record()
                torch.cuda.synchronize()
                out.append(a.elapsed_time(b))
            else:
                t = time.perf_counter()
                y = fn()
                out.append((time.perf_counter() - t) * 1e3)
        time_steps.last = y
        return out

    device_name = torch.cuda.get_device_name() if cuda else "cpu"
    results = []

    def write_outputs(complete: bool) -> str:
        """Writes --out and the reference files (each via a temporary file + rename: a kill never leaves half a file)."""
        doc = {
            "device": device_name, "torch": torch.__version__, "diffusers": diffusers.__version__,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "dtype": "bfloat16", "batch": 1,
            "config": cfg, "tiny": args.tiny, "text_len": text_len, "warmup": args.warmup, "iters": args.iters,
            "weight_bytes": weight_bytes, "results": results, "elapsed_s": round(time.time() - t_start, 1),
            "complete": complete,
        }
        text = json.dumps(doc, indent=1)
        if args.out:
            write_atomic(args.out, text + "\n")
        if args.reference_prefix:
            for mode in modes:
                rows = [r for r in results if r["mode"] == mode and "ms_median" in r]
                write_atomic(f"{args.reference_prefix}-{mode}.json",
                             json.dumps({"device": device_name, "source": f"diffusers FluxTransformer2DModel, {mode}", "results": rows}, indent=1))
        return text

    for mode in modes:
        for res in resolutions:
            row = {"model": f"flux1-dev diffusers ({mode})", "mode": mode, "resolution": res,
                   "image_tokens": (res // 16) ** 2, "text_tokens": text_len}
            results.append(row)
            left = args.deadline_s - (time.time() - t_start)
            if left < 0:
                row["skipped"] = "time budget"
                log(f"{mode} {res}: skipped (time budget)")
                write_outputs(False)
                continue
            if mode == "compile" and left < args.compile_min_left_s:
                row["skipped"] = f"time budget: a compile needs {args.compile_min_left_s:.0f} s, {left:.0f} s left"
                log(f"{mode} {res}: skipped ({row['skipped']})")
                write_outputs(False)
                continue
            try:
                x = inputs(res)
                with torch.inference_mode():
                    if mode == "compile":
                        torch._dynamo.reset()
                        fn_model = torch.compile(model)
                        sync()
                        t = time.time()
                        fn_model(**x)
                        sync()
                        row["compile_s"] = round(time.time() - t, 2)
                    else:
                        fn_model = model
                    fbc = mode.startswith("fbc-")
                    if fbc:
                        # diffusers' first-block cache (hooks/first_block_cache.py) on the eager model; its state lives
                        # in a cache context. The first warm-up step has no reference and runs every block.
                        from diffusers.hooks import FirstBlockCacheConfig
                        model.enable_cache(FirstBlockCacheConfig(threshold=-1.0 if mode == "fbc-compute" else 1e9))
                        row["first_block_cache"] = "every block" if mode == "fbc-compute" else "reused"
                    try:
                        cm = model.cache_context("bench") if fbc else None
                        if cm is not None:
                            cm.__enter__()
                        fn = lambda: fn_model(**x)[0]  # noqa: E731
                        if cuda:
                            torch.cuda.reset_peak_memory_stats()
                        time_steps(fn, args.warmup)
                        ms = time_steps(fn, args.iters)
                    finally:
                        if fbc:
                            if cm is not None:
                                cm.__exit__(None, None, None)
                            model.disable_cache()
                y = time_steps.last
                flops = flux_flops(cfg, row["image_tokens"], text_len)
                row.update(ms_median=statistics.median(ms), ms_min=min(ms), ms_all=[round(v, 3) for v in ms],
                           flops=flops, tflops_per_s=flops / (statistics.median(ms) * 1e-3) / 1e12,
                           output_shape=list(y.shape), output_finite=bool(torch.isfinite(y).all()))
                if cuda:
                    row["peak_mem_bytes"] = torch.cuda.max_memory_allocated()
                log(f"{mode} {res}: {row['ms_median']:.2f} ms median" + (f", compile {row['compile_s']} s" if "compile_s" in row else ""))
            except Exception as e:  # one failing mode/resolution must not lose the others
                row["error"] = f"{type(e).__name__}: {str(e)[:2000]}"
                log(f"{mode} {res}: ERROR {row['error'][:300]}")
            finally:
                if cuda:
                    torch.cuda.empty_cache()
            write_outputs(False)  # after every measurement: an outer timeout must not lose the rows so far

    print(write_outputs(True))
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
