"""End-to-end FLUX.1-dev text to image on random full-size weights: the pipeline folder, and diffusers' timings.

    python3 bench/reference/pipeline_e2e.py make --folder /tmp/flux-e2e                 # GPU machine (~34 GB on disk)
    python3 bench/reference/pipeline_e2e.py time --folder /tmp/flux-e2e --out $OUT      # FluxPipeline eager + torch.compile
    python3 bench/reference/pipeline_e2e.py make --folder /tmp/flux-e2e-tiny --tiny     # any CPU: smoke test of the path

make: a FluxPipeline folder with the released FLUX.1-dev architectures (transformer 19 + 38 blocks, T5-XXL v1.1
      encoder, CLIP-L/14 text model, the 16-channel AutoencoderKL, FLUX.1-dev's scheduler config), random weights
      from the libraries' own initialisation (seeded), bf16, saved with save_pretrained. The tokenizers are the tiny
      trained ones from test/fixtures/tiny-pipelines/flux (their ids are valid in the full vocabularies; token
      values do not change the cost of a forward pass).
time: FluxPipeline.from_pretrained(folder, bf16) on CUDA at 1024x1024, 28 steps, guidance 3.5, 512 T5 tokens:
      per-stage wall times (encode_prompt, the denoising loop, VAE decode; CUDA-synchronised), eager and with the
      transformer under torch.compile (after two warm-up generations), and peak CUDA memory. Writes
      <out>/torch-pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZERS = os.path.join(HERE, "..", "..", "test", "fixtures", "tiny-pipelines", "flux")
PROMPT = "a photo of a red fox in the snow, highly detailed"


def make(folder: str, tiny: bool) -> None:
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    torch.manual_seed(0)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16
    if tiny:
        tcfg = dict(num_layers=1, num_single_layers=1, attention_head_dim=32, num_attention_heads=2, joint_attention_dim=64,
                    pooled_projection_dim=32, axes_dims_rope=[4, 14, 14])
        t5 = T5Config(vocab_size=32128, d_model=64, d_kv=16, d_ff=96, num_layers=1, num_heads=4, feed_forward_proj="gated-gelu",
                      is_encoder_decoder=False, dropout_rate=0.0)
        cl = CLIPTextConfig(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                            max_position_embeddings=77, hidden_act="quick_gelu", eos_token_id=2)
        vae_ch = [32, 32]
    else:
        tcfg = dict(num_layers=19, num_single_layers=38, attention_head_dim=128, num_attention_heads=24, joint_attention_dim=4096,
                    pooled_projection_dim=768, axes_dims_rope=[16, 56, 56])
        t5 = T5Config(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64, feed_forward_proj="gated-gelu",
                      relative_attention_num_buckets=32, relative_attention_max_distance=128, is_encoder_decoder=False, dropout_rate=0.0)
        cl = CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                            max_position_embeddings=77, hidden_act="quick_gelu", eos_token_id=2)
        vae_ch = [128, 256, 512, 512]
    t0 = time.perf_counter()
    builders = {
        "transformer": lambda: FluxTransformer2DModel(patch_size=1, in_channels=64, guidance_embeds=True, **tcfg),
        "text_encoder_2": lambda: T5EncoderModel(t5),
        "text_encoder": lambda: CLIPTextModel(cl),
        "vae": lambda: AutoencoderKL(
            in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * len(vae_ch),
            up_block_types=["UpDecoderBlock2D"] * len(vae_ch), block_out_channels=vae_ch, layers_per_block=2,
            latent_channels=16, norm_num_groups=32, sample_size=1024, scaling_factor=0.3611, shift_factor=0.1159,
            use_quant_conv=False, use_post_quant_conv=False,
        ),
    }
    # One model at a time, initialised directly in bf16 on the GPU (the fp32 FLUX transformer alone would be 48 GB).
    for name, build in builders.items():
        prev = torch.get_default_dtype()
        torch.set_default_dtype(dtype)
        try:
            with torch.device(dev):
                m = build()
        finally:
            torch.set_default_dtype(prev)
        m.to(dtype).save_pretrained(os.path.join(folder, name), max_shard_size="5GB", safe_serialization=True)
        del m
        if dev == "cuda":
            torch.cuda.empty_cache()
        print(f"  {name} saved ({time.perf_counter() - t0:.0f} s)", flush=True)
    FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15, base_image_seq_len=256,
                                    max_image_seq_len=4096).save_pretrained(os.path.join(folder, "scheduler"))
    for t in ("tokenizer", "tokenizer_2"):
        shutil.copytree(os.path.join(TOKENIZERS, t), os.path.join(folder, t))
    index = {
        "_class_name": "FluxPipeline", "_diffusers_version": "0.40.0",
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
        "text_encoder_2": ["transformers", "T5EncoderModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
        "tokenizer_2": ["transformers", "T5TokenizerFast"], "transformer": ["diffusers", "FluxTransformer2DModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    with open(os.path.join(folder, "model_index.json"), "w") as f:
        json.dump(index, f, indent=1)
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(folder) for f in fs)
    print(f"wrote {folder}: {total / 1e9:.2f} GB in {time.perf_counter() - t0:.0f} s")


def timed_generation(pipe, size: int, steps: int, seq: int) -> dict:
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    g = torch.Generator("cpu").manual_seed(0)
    sync()
    t0 = time.perf_counter()
    pe, pooled, _ = pipe.encode_prompt(prompt=PROMPT, prompt_2=None, device=pipe.transformer.device, max_sequence_length=seq)
    sync()
    t1 = time.perf_counter()
    lat = pipe(prompt_embeds=pe, pooled_prompt_embeds=pooled, height=size, width=size, num_inference_steps=steps,
               guidance_scale=3.5, generator=g, output_type="latent").images
    sync()
    t2 = time.perf_counter()
    with torch.no_grad():
        lat = pipe._unpack_latents(lat, size, size, pipe.vae_scale_factor)
        lat = lat / pipe.vae.config.scaling_factor + pipe.vae.config.shift_factor
        img = pipe.vae.decode(lat, return_dict=False)[0]
    sync()
    t3 = time.perf_counter()
    return {"text_ms": (t1 - t0) * 1e3, "denoise_ms": (t2 - t1) * 1e3, "step_ms": (t2 - t1) * 1e3 / steps,
            "vae_decode_ms": (t3 - t2) * 1e3, "total_ms": (t3 - t0) * 1e3, "finite": bool(torch.isfinite(img).all())}


def time_pipeline(folder: str, out: str, size: int, steps: int, seq: int, compile_too: bool) -> None:
    from diffusers import FluxPipeline

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    t0 = time.perf_counter()
    pipe = FluxPipeline.from_pretrained(folder, torch_dtype=torch.bfloat16).to(dev)
    pipe.set_progress_bar_config(disable=True)
    load_s = time.perf_counter() - t0
    res = {"device": torch.cuda.get_device_name() if dev == "cuda" else "cpu", "torch": torch.__version__, "size": size,
           "steps": steps, "max_sequence_length": seq, "load_s": load_s}
    if dev == "cuda":
        torch.cuda.reset_peak_memory_stats()
    timed_generation(pipe, size, 1, seq)  # warm-up (cuBLAS/SDPA selection)
    res["eager"] = timed_generation(pipe, size, steps, seq)
    if dev == "cuda":
        res["eager"]["peak_gpu_bytes"] = torch.cuda.max_memory_allocated()
    print("eager", json.dumps(res["eager"]))
    if compile_too:
        pipe.transformer = torch.compile(pipe.transformer)
        t0 = time.perf_counter()
        timed_generation(pipe, size, 2, seq)
        timed_generation(pipe, size, 2, seq)
        res["compile_warmup_s"] = time.perf_counter() - t0
        res["compiled"] = timed_generation(pipe, size, steps, seq)
        print("compiled", json.dumps(res["compiled"]))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "torch-pipeline.json"), "w") as f:
        json.dump(res, f, indent=1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["make", "time"])
    ap.add_argument("--folder", required=True)
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/out"))
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=28)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--no-compile", action="store_true")
    a = ap.parse_args()
    if a.what == "make":
        make(a.folder, a.tiny)
    else:
        time_pipeline(a.folder, a.out, a.size, a.steps, a.seq, not a.no_compile)


if __name__ == "__main__":
    main()
