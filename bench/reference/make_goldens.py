"""Golden outputs of the tiny checkpoints, computed by the float64 reference.

    python3 bench/reference/make_goldens.py --models test/fixtures/tiny-models --out test/golden

For each tiny model: fixed-seed inputs for a 80x112-pixel image (latent 16 x 10 x 14 -> 5 x 7 = 35 image tokens,
a non-square grid), 7 text tokens, t = 0.73, guidance 3.5; runs the reference in float64 from the checkpoint files
as stored, and writes test/golden/<model>.safetensors (all tensors float32) with
  input.*   the exact inputs (f32 values; the reference converts them to f64 losslessly)
  output.*  the velocity
  inter.*   intermediates for debugging (names in README.md)
plus test/golden/README.md. Also checks: both FLUX-tiny layouts give the same output, the SD3 pos_embed buffer
equals the computed table, and the bf16 + SDPA path (the timing baseline) agrees with float64.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from common import rel_l2, to_compute  # noqa: E402
from flux_ref import flux_forward, load_flux, make_img_ids, make_txt_ids, patchify, unpatchify  # noqa: E402
from sd3_ref import load_sd3, sd3_forward, sincos_pos_embed_table  # noqa: E402
from tiny_models import PATHS  # noqa: E402

IMAGE_H, IMAGE_W = 80, 112  # pixels; VAE factor 8 -> latent 10 x 14; patch 2 -> 5 x 7 tokens
LATENT_C = 16
TEXT_LEN = 7
T = 0.73
GUIDANCE = 3.5
INPUT_SEED = 4242


def _gen(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(seed)


class Tracer:
    def __init__(self):
        self.values: dict[str, torch.Tensor] = {}

    def __call__(self, name: str, value: torch.Tensor) -> None:
        self.values["inter." + name] = value.detach().to("cpu", torch.float64).clone()


def bf16_check(fn, W64: dict, golden: torch.Tensor) -> float | None:
    """Run the same forward in bf16 + SDPA (the step_time.py path) and return its relL2 to the float64 golden."""
    if not torch.cuda.is_available():
        return None
    Wb = to_compute(W64, torch.bfloat16, "cuda")
    with torch.inference_mode():
        out = fn(Wb, "cuda")
    return rel_l2(out.float().cpu(), golden)


def flux_golden(models_root: str, name: str, path_key: str, alt_key: str | None, log) -> dict:
    cfg, sd = load_flux(os.path.join(models_root, PATHS[path_key]))
    W = to_compute(sd, torch.float64, "cpu")
    g = _gen(INPUT_SEED)
    h_lat, w_lat = IMAGE_H // 8, IMAGE_W // 8
    latents = torch.randn(1, LATENT_C, h_lat, w_lat, generator=g)
    txt = torch.randn(1, TEXT_LEN, cfg.context_in_dim, generator=g)
    y = torch.randn(1, cfg.vec_in_dim, generator=g)
    img = patchify(latents)
    h_tok, w_tok = h_lat // 2, w_lat // 2
    img_ids = make_img_ids(h_tok, w_tok, dtype=torch.float32)
    txt_ids = make_txt_ids(TEXT_LEN, dtype=torch.float32)
    t = torch.tensor([T], dtype=torch.float32)
    guidance = torch.tensor([GUIDANCE], dtype=torch.float32) if cfg.guidance_embed else None

    def run(Wx, device, trace=None):
        d = lambda x: None if x is None else x.to(device)  # noqa: E731
        return flux_forward(
            Wx, cfg, d(img), d(img_ids), d(txt), d(txt_ids), d(t), d(y), d(guidance),
            use_sdpa=(device != "cpu"), trace=trace,
        )

    tracer = Tracer()
    out = run(W, "cpu", tracer)
    result = {
        "input.latents": latents,
        "input.img": img,
        "input.img_ids": img_ids,
        "input.txt": txt,
        "input.txt_ids": txt_ids,
        "input.y": y,
        "input.timesteps": t,
        "output.velocity_packed": out,
        "output.velocity": unpatchify(out, h_tok, w_tok),
        **tracer.values,
    }
    if guidance is not None:
        result["input.guidance"] = guidance
    checks = {}
    if alt_key:
        cfg2, sd2 = load_flux(os.path.join(models_root, PATHS[alt_key]))
        if cfg2 != cfg:
            raise SystemExit(f"{alt_key}: config {cfg2} differs from {path_key}: {cfg}")
        out2 = run(to_compute(sd2, torch.float64, "cpu"), "cpu")
        checks["diffusers_layout_vs_bfl_relL2"] = rel_l2(out2, out)
        if checks["diffusers_layout_vs_bfl_relL2"] > 1e-12:
            raise SystemExit(f"{alt_key} and {path_key} disagree: relL2 {checks['diffusers_layout_vs_bfl_relL2']}")
    checks["bf16_sdpa_vs_f64_relL2"] = bf16_check(lambda Wb, dev: run(Wb, dev), W, out)
    meta = {
        "model": name,
        "checkpoint": PATHS[path_key] + (f" and {PATHS[alt_key]}" if alt_key else ""),
        "config": cfg.to_json(),
        "timestep_convention": "input.timesteps is t in [0,1]; the model embeds t*1000 (guidance likewise *1000)",
    }
    log(name, cfg, out, checks)
    return {"tensors": result, "meta": meta, "checks": checks}


def sd3_golden(models_root: str, name: str, log) -> dict:
    cfg, sd = load_sd3(os.path.join(models_root, PATHS[name]))
    W = to_compute(sd, torch.float64, "cpu")
    checks = {}
    computed = sincos_pos_embed_table(cfg)
    if "pos_embed.pos_embed" in sd:
        stored = sd["pos_embed.pos_embed"][0].double()
        checks["stored_pos_embed_vs_computed_max_abs"] = float((stored - computed).abs().max())
        if checks["stored_pos_embed_vs_computed_max_abs"] > 1e-3:  # stored as fp16
            raise SystemExit(f"{name}: stored pos_embed differs from the computed table")
    g = _gen(INPUT_SEED + 1)
    latents = torch.randn(1, cfg.in_channels, IMAGE_H // 8, IMAGE_W // 8, generator=g)
    ehs = torch.randn(1, TEXT_LEN, cfg.joint_attention_dim, generator=g)
    pooled = torch.randn(1, cfg.pooled_projection_dim, generator=g)
    timestep = torch.tensor([T * 1000.0], dtype=torch.float32)

    def run(Wx, device, trace=None):
        return sd3_forward(
            Wx, cfg, latents.to(device), ehs.to(device), pooled.to(device), timestep.to(device),
            use_sdpa=(device != "cpu"), trace=trace,
        )

    tracer = Tracer()
    out = run(W, "cpu", tracer)
    result = {
        "input.latents": latents,
        "input.encoder_hidden_states": ehs,
        "input.pooled_projections": pooled,
        "input.timestep": timestep,
        "output.velocity": out,
        **tracer.values,
    }
    checks["bf16_sdpa_vs_f64_relL2"] = bf16_check(lambda Wb, dev: run(Wb, dev), W, out)
    meta = {
        "model": name,
        "checkpoint": PATHS[name],
        "config": json.dumps(cfg.__dict__, sort_keys=True),
        "timestep_convention": "input.timestep is already t*1000 (=730); the model embeds it as given",
    }
    log(name, cfg, out, checks)
    return {"tensors": result, "meta": meta, "checks": checks}


def write_golden(out_dir: str, name: str, g: dict, command: str) -> str:
    from safetensors.torch import save_file

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{name}.safetensors")
    meta = dict(g["meta"])
    meta["precision"] = "computed in float64 (CPU), stored as float32"
    meta["command"] = command
    meta["checks"] = json.dumps(g["checks"])
    tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in sorted(g["tensors"].items())}
    save_file(tensors, path, metadata=meta)
    return path


def write_readme(out_dir: str, goldens: dict[str, dict], command: str) -> None:
    lines = [
        "# Golden outputs of the tiny reference models",
        "",
        "Generated by `bench/reference/make_goldens.py` (do not edit by hand). Command:",
        "",
        f"    {command}",
        "",
        "Each `<model>.safetensors` holds float32 tensors: `input.*` (the exact inputs), `output.*` (the",
        "velocity) and `inter.*` (intermediates, for locating a mismatch). The reference ran in **float64** on the",
        "CPU from the checkpoint files in `test/fixtures/tiny-models/` exactly as stored (bf16/fp16/f32 values",
        "widened losslessly), with the attention written out (softmax(QK^T/sqrt(d))V, no SDPA backend).",
        f"Inputs: a {IMAGE_H}x{IMAGE_W}-pixel image -> latent {LATENT_C}x{IMAGE_H // 8}x{IMAGE_W // 8} ->",
        f"{IMAGE_H // 16}x{IMAGE_W // 16} = {(IMAGE_H // 16) * (IMAGE_W // 16)} image tokens (rows x cols), {TEXT_LEN} text tokens, t = {T}, batch 1.",
        "",
        "Timestep conventions: FLUX `input.timesteps` = t in [0,1] (the model multiplies by 1000 inside, guidance",
        "too); SD3 `input.timestep` = t*1000 (the diffusers SD3 pipeline passes sigma*1000; no factor inside).",
        "",
        "`bf16_sdpa_vs_f64_relL2` is how far PyTorch's own bf16 + SDPA run of the same weights lands from the",
        "golden: a rough yardstick for a 16-bit engine (an f16-storage/f32-accumulate graph should be at or below",
        "it; a layout or ordering bug gives relL2 ~ 1).",
        "",
        "| file | model checkpoint(s) | tensors | output std | checks |",
        "|---|---|---|---|---|",
    ]
    for name, g in goldens.items():
        t = g["tensors"]
        out = t["output.velocity"]
        checks = ", ".join(f"{k} = {v:.3g}" if isinstance(v, float) else f"{k} = {v}" for k, v in g["checks"].items())
        lines.append(
            f"| `{name}.safetensors` | `{g['meta']['checkpoint']}` | {len(t)} | {float(out.double().std()):.4f} | {checks} |"
        )
    lines += ["", "## Tensors", ""]
    for name, g in goldens.items():
        lines.append(f"### {name}")
        lines.append("")
        lines.append(f"config: `{g['meta']['config']}`")
        lines.append("")
        for k, v in sorted(g["tensors"].items()):
            stat = f"std {float(v.double().std()):.4g}" if v.numel() > 1 else f"value {float(v.double().flatten()[0]):.4g}"
            lines.append(f"- `{k}` {list(v.shape)} ({stat})")
        lines.append("")
    lines += [
        "Intermediate names: FLUX `inter.vec` (timestep+guidance+pooled embedding), `inter.img_in`/`inter.txt_in`",
        "(after img_in/txt_in), `inter.rope_cos`/`inter.rope_sin` [B, L_txt+L_img, head_dim/2] (text rows first),",
        "`inter.double{i}.img|txt` (after double block i), `inter.single{i}` ([txt, img] after single block i),",
        "`inter.final_norm` (after the final adaLN, before final_layer.linear). SD3 `inter.pos_embed_cropped`,",
        "`inter.patch_embed` (conv + pos embed), `inter.temb`, `inter.context` (after context_embedder),",
        "`inter.block{i}.img|txt` (after joint block i; the last block has no txt), `inter.norm_out`, `inter.proj_out`",
        "(tokens before unpatchify).",
        "",
    ]
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="test/fixtures/tiny-models")
    ap.add_argument("--out", default="test/golden")
    args = ap.parse_args()
    command = f"python3 bench/reference/make_goldens.py --models {args.models} --out {args.out}"
    torch.set_grad_enabled(False)

    def log(name, cfg, out, checks):
        print(f"[{name}] out shape {list(out.shape)} std {float(out.std()):.4f} absmax {float(out.abs().max()):.4f} checks {checks}", flush=True)

    t0 = time.time()
    goldens = {
        "flux-tiny": flux_golden(args.models, "flux-tiny", "flux-tiny", "flux-tiny-diffusers", log),
        "flux-tiny-schnell": flux_golden(args.models, "flux-tiny-schnell", "flux-tiny-schnell", None, log),
        "sd3-tiny": sd3_golden(args.models, "sd3-tiny", log),
        "sd35-tiny": sd3_golden(args.models, "sd35-tiny", log),
    }
    for name, g in goldens.items():
        p = write_golden(args.out, name, g, command)
        print(f"{os.path.getsize(p):>10}  {p}")
    write_readme(args.out, goldens, command)
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
