"""Goldens for the sampler and the whole text-to-image pipeline, made by diffusers itself.

    PYTHONPATH=/work/diffusers-src/src /work/pyref/bin/python bench/reference/make_pipeline_goldens.py \
        --out test/fixtures/tiny-pipelines

Writes
  scheduler-golden.json   FlowMatchEulerDiscreteScheduler sigmas/timesteps as FluxPipeline (FLUX.1-dev dynamic
                          shifting, schnell) and StableDiffusion3Pipeline (shift 3.0) compute them, for several step
                          counts and image sizes; Euler updates (scheduler.step) on fixed numbers; img2img start
                          steps (get_timesteps) for several strengths.
  flux/   a tiny random FluxPipeline saved by FluxPipeline.save_pretrained (model_index.json, transformer/, vae/,
          text_encoder/ CLIP-L, text_encoder_2/ T5, tokenizer/, tokenizer_2/, scheduler/), weights fp16
  flux/golden.safetensors   FluxPipeline(prompt, latents=pack(input.noise), 4 steps, guidance 3.5) in float32:
          input.noise [1, 16, h, w], output.image [1, 3, H, W] (float in [0, 1], before 8-bit quantisation),
          output.latents [1, 16, h, w] (before the VAE), cond.txt / cond.pooled (encode_prompt), sigmas.
  sd3/    a tiny random StableDiffusion3Pipeline (CLIP-L, CLIP-G, T5), same idea, with CFG (negative prompt, 5.0)
  sd3/golden.safetensors    the same tensors plus cond.neg_txt / cond.neg_pooled.
With --small-flux FILE: only the shipped model's golden (weights/small-flux, 2 steps at 128x128 from fixed latents,
with a sha256 of its weight files), for test/pipeline/small-flux.test.ts:
    PYTHONPATH=/work/diffusers-src/src /work/pyref/bin/python bench/reference/make_pipeline_goldens.py \
        --small-flux test/fixtures/small-flux-golden.safetensors
Tokenizers are trained by bench/reference/make_encoder_goldens.py's functions (the `tokenizers` library and
sentencepiece), so they are the same kind the text-encoder tests cover. Weights are rounded to fp16 before the
goldens run, so the stored fp16 files hold exactly the weights diffusers ran. Deterministic (fixed seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from make_encoder_goldens import make_clip_tokenizers, make_t5_tokenizer  # noqa: E402

SEED = 2024
PROMPT = "a red circle on a blue background, top left"
NEGATIVE = "blurry, low quality"
HEIGHT, WIDTH = 32, 48  # pixels; the tiny VAE downsamples by 2 (two blocks), so latents are 16 x 24


def write_json(path: str, obj) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


# ---- scheduler goldens -----------------------------------------------------------------------------------------

def scheduler_goldens() -> dict:
    from diffusers import FlowMatchEulerDiscreteScheduler
    from diffusers.pipelines.flux.pipeline_flux import calculate_shift, retrieve_timesteps

    configs = {
        # FLUX.1-dev's scheduler/scheduler_config.json
        "flux-dev": dict(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                         base_image_seq_len=256, max_image_seq_len=4096),
        # FLUX.1-schnell's
        "flux-schnell": dict(num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=False),
        # SD3-medium's / SD3.5's
        "sd3": dict(num_train_timesteps=1000, shift=3.0),
        # a linear time shift and a terminal stretch (options some configs carry)
        "flux-linear-terminal": dict(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5,
                                     max_shift=1.15, time_shift_type="linear", shift_terminal=0.1),
    }
    cases = []
    for name, cfg in configs.items():
        spacing = "sd3" if name == "sd3" else "flux"
        for steps in (1, 2, 4, 20, 28, 50):
            for seq in (16, 256, 1024, 4096, 16384):
                if cfg.get("shift_terminal") and steps == 1:
                    continue  # a 1-step schedule ends at sigma 1: diffusers' terminal stretch divides by zero
                sch = FlowMatchEulerDiscreteScheduler(**cfg)
                if spacing == "flux":
                    # FluxPipeline.__call__: explicit sigmas, mu from the packed latent length
                    sigmas = np.linspace(1.0, 1 / steps, steps)
                    mu = calculate_shift(seq, sch.config.get("base_image_seq_len", 256), sch.config.get("max_image_seq_len", 4096),
                                         sch.config.get("base_shift", 0.5), sch.config.get("max_shift", 1.15))
                    ts, _ = retrieve_timesteps(sch, steps, "cpu", sigmas=sigmas, mu=mu)
                else:
                    # StableDiffusion3Pipeline.__call__: no sigmas, no dynamic shifting
                    ts, _ = retrieve_timesteps(sch, steps, "cpu")
                    if seq != 1024:
                        continue  # the SD3 schedule does not depend on the size
                cases.append(dict(config=name, spacing=spacing, steps=steps, image_seq_len=seq,
                                  timesteps=[float(t) for t in ts], sigmas=[float(s) for s in sch.sigmas]))
    # Euler: scheduler.step on fixed numbers at a few indices.
    g = torch.Generator().manual_seed(SEED)
    euler = []
    sch = FlowMatchEulerDiscreteScheduler(**configs["sd3"])
    sch.set_timesteps(7)
    for k in (0, 3, 6):
        sample = torch.randn(13, generator=g)
        v = torch.randn(13, generator=g)
        sch._step_index = k
        prev = sch.step(v, sch.timesteps[k], sample, return_dict=False)[0]
        euler.append(dict(sigma=float(sch.sigmas[k]), sigma_next=float(sch.sigmas[k + 1]), sample=sample.tolist(),
                          velocity=v.tolist(), prev=prev.tolist()))
    # img2img: the start step FluxImg2ImgPipeline.get_timesteps picks.
    from diffusers import FluxImg2ImgPipeline
    img2img = []
    for steps in (4, 10, 28):
        for strength in (0.1, 0.3, 0.5, 0.6, 0.75, 0.95, 1.0):
            sch = FlowMatchEulerDiscreteScheduler(**configs["flux-dev"])
            sch.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), mu=1.0)
            fake = type("P", (), {"scheduler": sch})()
            ts, n = FluxImg2ImgPipeline.get_timesteps(fake, steps, strength, "cpu")
            img2img.append(dict(steps=steps, strength=strength, start=steps - int(n) if n > 0 else steps, runs=int(n)))
    return dict(configs=configs, cases=cases, euler=euler, img2img=img2img)


# ---- tiny pipelines --------------------------------------------------------------------------------------------

def round_fp16(model: torch.nn.Module, seed: int, scale: float = 1.0) -> torch.nn.Module:
    """Random weights (not the libraries' zero-bias init, which hides mistakes), rounded to fp16-exact values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            n = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if p.ndim > 1:
                v = n * (scale / p[0].numel() ** 0.5)
            elif "norm" in name and (name.endswith("weight") or name.endswith("scale")):
                v = 1 + 0.1 * n
            else:
                v = 0.05 * n
            p.copy_(v.to(torch.float16).to(torch.float32))
    return model.float().eval()


def tiny_vae(scaling: float, shift: float, seed: int, width: int = 16, groups: int = 8):
    from diffusers import AutoencoderKL
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
        block_out_channels=[width, width], layers_per_block=1, latent_channels=16, norm_num_groups=groups, sample_size=32,
        scaling_factor=scaling, shift_factor=shift, use_quant_conv=False, use_post_quant_conv=False,
    )
    return round_fp16(vae, seed)


def clip_model(cls, tok, hidden: int, act: str, eos_rule: int, proj: int | None, seed: int):
    from transformers import CLIPTextConfig
    kw = dict(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
              num_attention_heads=4, max_position_embeddings=77, hidden_act=act, layer_norm_eps=1e-5,
              bos_token_id=tok.bos_token_id, eos_token_id=eos_rule, pad_token_id=1)
    if proj:
        kw["projection_dim"] = proj
    return round_fp16(cls(CLIPTextConfig(**kw)), seed)


def t5_model(tok, d_model: int, seed: int):
    from transformers import T5Config, T5EncoderModel
    m = T5EncoderModel(T5Config(
        vocab_size=len(tok), d_model=d_model, d_kv=16, d_ff=96, num_layers=2, num_heads=4, feed_forward_proj="gated-gelu",
        relative_attention_num_buckets=32, relative_attention_max_distance=128, layer_norm_epsilon=1e-6,
        dropout_rate=0.0, tie_word_embeddings=False, is_encoder_decoder=False, pad_token_id=0, eos_token_id=1,
    ))
    round_fp16(m, seed)
    with torch.no_grad():
        m.shared.weight.copy_((m.shared.weight * 20).to(torch.float16).float())  # O(1) embeddings
    return m


def save_fp16(pipe, dst: str) -> None:
    pipe.save_pretrained(dst, safe_serialization=True)
    # save again in fp16 (values are fp16-exact, so nothing changes); configs stay as saved.
    for name, comp in pipe.components.items():
        if isinstance(comp, torch.nn.Module):
            comp.to(torch.float16).save_pretrained(os.path.join(dst, name), safe_serialization=True)
            comp.to(torch.float32)


def tokenizers(dst: str):
    from transformers import CLIPTokenizer, T5TokenizerFast
    make_t5_tokenizer(os.path.join(dst, "_t5"))
    make_clip_tokenizers(os.path.join(dst, "_clip"), os.path.join(dst, "_clip_g"))
    t5 = T5TokenizerFast.from_pretrained(os.path.join(dst, "_t5"))
    cl = CLIPTokenizer.from_pretrained(os.path.join(dst, "_clip"))
    cg = CLIPTokenizer.from_pretrained(os.path.join(dst, "_clip_g"))
    for d in ("_t5", "_clip", "_clip_g"):
        shutil.rmtree(os.path.join(dst, d))
    return t5, cl, cg


def flux_pipeline(out: str, t5_tok, clip_tok) -> None:
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel

    transformer = round_fp16(FluxTransformer2DModel(
        patch_size=1, in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=32, num_attention_heads=1,
        joint_attention_dim=64, pooled_projection_dim=32, guidance_embeds=True, axes_dims_rope=[4, 14, 14],
    ), SEED + 1)
    pipe = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                  base_image_seq_len=256, max_image_seq_len=4096),
        # 32 channels and 32 groups: BFL's autoencoder hard-codes 32 groups, and the BFL file-set test reuses this VAE.
        vae=tiny_vae(0.3611, 0.1159, SEED + 2, width=32, groups=32),
        text_encoder=clip_model(CLIPTextModel, clip_tok, 32, "quick_gelu", 2, None, SEED + 3), tokenizer=clip_tok,
        text_encoder_2=t5_model(t5_tok, 64, SEED + 4), tokenizer_2=t5_tok, transformer=transformer,
    )
    dst = os.path.join(out, "flux")
    save_fp16(pipe, dst)
    g = torch.Generator().manual_seed(SEED + 10)
    h, w = HEIGHT // 2, WIDTH // 2
    noise = torch.randn(1, 16, h, w, generator=g)
    packed = FluxPipeline._pack_latents(noise, 1, 16, h, w)
    kw = dict(prompt=PROMPT, height=HEIGHT, width=WIDTH, num_inference_steps=4, guidance_scale=3.5, max_sequence_length=64)
    with torch.no_grad():
        image = pipe(latents=packed.clone(), output_type="pt", **kw).images
        lat = pipe(latents=packed.clone(), output_type="latent", **kw).images
        txt, pooled, _ = pipe.encode_prompt(prompt=PROMPT, prompt_2=None, device="cpu", max_sequence_length=64)
    sigmas = torch.tensor([float(s) for s in pipe.scheduler.sigmas])
    gold = {
        "input.noise": noise, "output.image": image, "output.latents": FluxPipeline._unpack_latents(lat, HEIGHT, WIDTH, 2),
        "cond.txt": txt[0], "cond.pooled": pooled[0], "sigmas": sigmas,
    }
    gold.update(flux_img2img(pipe, dst, g))
    write_json(os.path.join(dst, "bfl-names.json"), bfl_name_maps(pipe))
    settings = dict(kw, family="flux", negative=None, seed=None, img2img_strength=IMG2IMG_STRENGTH)
    save_file({k: v.contiguous().float() for k, v in gold.items()}, os.path.join(dst, "golden.safetensors"),
              metadata={"settings": json.dumps(settings)})


IMG2IMG_STRENGTH = 0.6


def bfl_name_maps(pipe) -> dict:
    """How to write this pipeline's transformer and VAE as BFL single files (flux1-*.safetensors, ae.safetensors):
    for every BFL tensor, its shape and the diffusers tensor rows that make it up, in order. Derived by running
    flux_ref.diffusers_to_bfl (qkv fusion, half swaps) on tensors of row ids, and make_vae_goldens.bfl_names
    (checked against diffusers' own convert_ldm_vae_checkpoint), so the test's BFL files do not come from the
    engine's own name maps."""
    from flux_ref import diffusers_to_bfl
    from make_vae_goldens import bfl_names, check_bfl_names

    def row_runs(convert, sd):
        names = sorted(sd)
        ids = {n: torch.arange(sd[n].shape[0], dtype=torch.int64)[:, None] + (i << 20) for i, n in enumerate(names)}
        out = {}
        for bfl, t in convert(ids).items():
            parts = []
            for x in t[:, 0].tolist():
                name, row = names[x >> 20], x & ((1 << 20) - 1)
                if parts and parts[-1][0] == name and parts[-1][2] == row:
                    parts[-1][2] = row + 1
                else:
                    parts.append([name, row, row + 1])
            first = sd[parts[0][0]]
            out[bfl] = {"shape": [int(t.shape[0])] + list(first.shape[1:]), "parts": parts}
        return out

    tsd = pipe.transformer.state_dict()
    vae_cfg = dict(pipe.vae.config)
    vsd = pipe.vae.state_dict()
    names = bfl_names(vae_cfg, vsd)
    check_bfl_names(vae_cfg, vsd, names)
    ae = {b: {"shape": shape, "parts": [[d, 0, int(vsd[d].shape[0])]]} for b, (d, shape) in names.items()}
    return {"transformer": row_runs(diffusers_to_bfl, tsd), "ae": ae}


def flux_img2img(pipe, dst: str, g: torch.Generator) -> dict:
    """FluxImg2ImgPipeline on img2img-input.png, started from latents noised exactly as our pipeline does: the VAE
    encoder's mean (mode, not a sample), scaled/shifted, then scheduler.scale_noise to sigmas[t_start]."""
    from PIL import Image
    from diffusers import FluxImg2ImgPipeline, FluxPipeline
    from diffusers.pipelines.flux.pipeline_flux import calculate_shift

    # A smooth, deterministic picture (gradients and a disc), saved as PNG: both sides read the same 8-bit pixels.
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    r = np.clip(xx / (WIDTH - 1), 0, 1)
    gch = np.clip(yy / (HEIGHT - 1), 0, 1)
    b = ((xx - 30) ** 2 + (yy - 12) ** 2 < 64).astype(np.float64)
    rgb = (np.stack([r, gch, 0.3 + 0.6 * b], -1) * 255).round().astype(np.uint8)
    path = os.path.join(dst, "img2img-input.png")
    Image.fromarray(rgb).save(path)
    img = Image.open(path).convert("RGB")
    i2i = FluxImg2ImgPipeline.from_pipe(pipe)
    steps = 4
    with torch.no_grad():
        x = i2i.image_processor.preprocess(img, height=HEIGHT, width=WIDTH).to(torch.float32)
        mode = i2i.vae.encode(x).latent_dist.mode()
        il = (mode - i2i.vae.config.shift_factor) * i2i.vae.config.scaling_factor
        h, w = HEIGHT // 2, WIDTH // 2
        noise = torch.randn(1, 16, h, w, generator=g)
        sch = i2i.scheduler
        mu = calculate_shift((h // 2) * (w // 2))
        sch.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), mu=mu)
        t_start = int(max(steps - min(steps * IMG2IMG_STRENGTH, steps), 0))
        sigma = float(sch.sigmas[t_start])
        start = sigma * noise + (1 - sigma) * il
        out = i2i(prompt=PROMPT, image=img, strength=IMG2IMG_STRENGTH, height=HEIGHT, width=WIDTH, num_inference_steps=steps,
                  guidance_scale=3.5, max_sequence_length=64, latents=FluxPipeline._pack_latents(start, 1, 16, h, w),
                  output_type="pt").images
    return {"img2img.noise": noise, "img2img.image_latents": il, "img2img.output.image": out}


def sd3_pipeline(out: str, t5_tok, clip_tok, clip_g_tok) -> None:
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline
    from transformers import CLIPTextModelWithProjection

    transformer = round_fp16(SD3Transformer2DModel(
        sample_size=16, patch_size=2, in_channels=16, num_layers=2, attention_head_dim=32, num_attention_heads=1,
        joint_attention_dim=64, caption_projection_dim=32, pooled_projection_dim=64, out_channels=16, pos_embed_max_size=16,
    ), SEED + 11)
    pipe = StableDiffusion3Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=tiny_vae(1.5305, 0.0609, SEED + 12),
        text_encoder=clip_model(CLIPTextModelWithProjection, clip_tok, 32, "quick_gelu", 2, 32, SEED + 13), tokenizer=clip_tok,
        text_encoder_2=clip_model(CLIPTextModelWithProjection, clip_g_tok, 32, "gelu", clip_g_tok.eos_token_id, 32, SEED + 14),
        tokenizer_2=clip_g_tok,
        text_encoder_3=t5_model(t5_tok, 64, SEED + 15), tokenizer_3=t5_tok, transformer=transformer,
    )
    dst = os.path.join(out, "sd3")
    save_fp16(pipe, dst)
    g = torch.Generator().manual_seed(SEED + 20)
    h, w = HEIGHT // 2, WIDTH // 2
    noise = torch.randn(1, 16, h, w, generator=g)
    kw = dict(prompt=PROMPT, negative_prompt=NEGATIVE, height=HEIGHT, width=WIDTH, num_inference_steps=4,
              guidance_scale=5.0, max_sequence_length=32)
    with torch.no_grad():
        image = pipe(latents=noise.clone(), output_type="pt", **kw).images
        lat = pipe(latents=noise.clone(), output_type="latent", **kw).images
        pe, ne, pp, npool = pipe.encode_prompt(prompt=PROMPT, prompt_2=None, prompt_3=None, device="cpu",
                                               do_classifier_free_guidance=True, negative_prompt=NEGATIVE, max_sequence_length=32)
    sigmas = torch.tensor([float(s) for s in pipe.scheduler.sigmas])
    gold = {
        "input.noise": noise, "output.image": image, "output.latents": lat, "cond.txt": pe[0], "cond.pooled": pp[0],
        "cond.neg_txt": ne[0], "cond.neg_pooled": npool[0], "sigmas": sigmas,
    }
    settings = dict(kw, family="sd3", negative=NEGATIVE, seed=None)
    save_file({k: v.contiguous().float() for k, v in gold.items()}, os.path.join(dst, "golden.safetensors"),
              metadata={"settings": json.dumps(settings)})


SMALL_FLUX = "weights/small-flux"
SMALL_PROMPT = "a yellow square on a purple background, bottom right"


def weights_digest(folder: str) -> str:
    """sha256 over the pipeline's weight files (names and bytes), so the test can tell when the model changed."""
    import hashlib
    h = hashlib.sha256()
    for root, _, files in sorted(os.walk(folder)):
        for f in sorted(files):
            if f.endswith(".safetensors"):
                p = os.path.join(root, f)
                h.update(os.path.relpath(p, folder).encode())
                with open(p, "rb") as fh:
                    h.update(fh.read())
    return h.hexdigest()


def small_flux_golden(out: str) -> None:
    """The shipped small model (weights/small-flux) run by diffusers' FluxPipeline in float32 from fixed latents,
    2 steps at 128x128: the test checks `dit generate --latents` reproduces it."""
    from diffusers import FluxPipeline
    pipe = FluxPipeline.from_pretrained(SMALL_FLUX, torch_dtype=torch.float32)
    g = torch.Generator().manual_seed(77)
    noise = torch.randn(1, 16, 16, 16, generator=g)
    with torch.no_grad():
        img = pipe(prompt=SMALL_PROMPT, height=128, width=128, num_inference_steps=2, guidance_scale=3.5, max_sequence_length=32,
                   latents=FluxPipeline._pack_latents(noise, 1, 16, 16, 16), output_type="pt").images
    save_file({"input.noise": noise.contiguous(), "output.image": img.contiguous()}, out,
              metadata={"weights_sha256": weights_digest(SMALL_FLUX), "prompt": SMALL_PROMPT, "steps": "2", "size": "128x128",
                        "guidance": "3.5", "max_sequence_length": "32"})
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="test/fixtures/tiny-pipelines")
    ap.add_argument("--small-flux", metavar="FILE", help="only write the shipped small model's golden to FILE")
    args = ap.parse_args()
    if args.small_flux:
        small_flux_golden(args.small_flux)
        return
    out = args.out
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    torch.manual_seed(SEED)
    write_json(os.path.join(out, "scheduler-golden.json"), scheduler_goldens())
    t5_tok, clip_tok, clip_g_tok = tokenizers(out)
    flux_pipeline(out, t5_tok, clip_tok)
    sd3_pipeline(out, t5_tok, clip_tok, clip_g_tok)
    total = 0
    for root, _, files in os.walk(out):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    print(f"wrote {out}: {total / 1e6:.2f} MB")
    assert total < 3_000_000, "fixtures must stay under 3 MB"


if __name__ == "__main__":
    main()
