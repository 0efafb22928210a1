"""Full-size random-weight text encoders for `dit bench encoders`: weights, float32 goldens and PyTorch timings.

    python3 bench/reference/encoders_fullsize.py --weights /tmp/enc-fullsize --out $OUT        # GPU machine
    python3 bench/reference/encoders_fullsize.py --weights /tmp/enc-tiny --out /tmp/o --tiny   # any CPU (tests the path)

For each model (the released architectures, random weights from transformers' own initialisation, seeded):
  t5      T5-XXL v1.1 encoder (4.7B), 512 tokens: saved by save_pretrained (sharded + index, f16), like FLUX.1's
          text_encoder_2/ folder
  clip-l  CLIP-L/14 text model (quick-GELU), 77 tokens: saved as ONE file with 'text_model.*' names and no
          config.json, like ComfyUI's clip_l.safetensors (our loader infers heads/activation from the width)
  clip-g  OpenCLIP bigG/14 text model with projection (GELU), 77 tokens: save_pretrained (f16), like SD3's
          text_encoder_2/
Weights are stored in f16; the float32 reference runs the same f16-rounded values in float32 (TF32 off), so the
comparison measures our kernels, not weight rounding. Timings: eager PyTorch in bf16 (SDPA attention) and f32,
median of --reps runs after warm-up, CUDA events. Writes <weights>/<model>/golden.safetensors (ids and float32
outputs) and <out>/torch-encoders.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
from safetensors.torch import save_file


def configs(tiny: bool):
    from transformers import CLIPTextConfig, T5Config

    if tiny:
        t5 = T5Config(vocab_size=300, d_model=64, d_kv=16, d_ff=96, num_layers=2, num_heads=4, feed_forward_proj="gated-gelu",
                      is_encoder_decoder=False, dropout_rate=0.0)
        cl = CLIPTextConfig(vocab_size=500, hidden_size=768, intermediate_size=128, num_hidden_layers=2, num_attention_heads=12,
                            max_position_embeddings=77, hidden_act="quick_gelu", eos_token_id=2)
        cg = CLIPTextConfig(vocab_size=500, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                            max_position_embeddings=77, hidden_act="gelu", projection_dim=64, eos_token_id=2)
        return {"t5": (t5, 40), "clip-l": (cl, 77), "clip-g": (cg, 77)}
    # google/t5-v1_1-xxl; openai/clip-vit-large-patch14 text tower; laion CLIP-ViT-bigG-14 text tower (SD3 text_encoder_2)
    t5 = T5Config(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64, feed_forward_proj="gated-gelu",
                  relative_attention_num_buckets=32, relative_attention_max_distance=128, is_encoder_decoder=False, dropout_rate=0.0)
    cl = CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                        max_position_embeddings=77, hidden_act="quick_gelu", eos_token_id=2)
    cg = CLIPTextConfig(vocab_size=49408, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
                        max_position_embeddings=77, hidden_act="gelu", projection_dim=1280, eos_token_id=2)
    return {"t5": (t5, 512), "clip-l": (cl, 77), "clip-g": (cg, 77)}


def make_ids(name: str, vocab: int, n: int, g: torch.Generator) -> torch.Tensor:
    if name == "t5":
        ids = torch.randint(3, min(vocab, 32100), (n,), generator=g)
        ids[-1] = 1  # </s>
        return ids
    eos = vocab - 1
    body = n // 3
    ids = torch.full((n,), eos)
    ids[0] = vocab - 2  # <|startoftext|>
    ids[1:1 + body] = torch.randint(0, vocab - 2, (body,), generator=g)
    return ids


def build(name: str, cfg, device: str):
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, T5EncoderModel

    cls = T5EncoderModel if name == "t5" else (CLIPTextModelWithProjection if getattr(cfg, "projection_dim", None) and name == "clip-g" else CLIPTextModel)
    with torch.device(device):
        m = cls(cfg)
    return m.eval()


def timed(fn, reps: int, device: str) -> float:
    for _ in range(3):
        fn()
    samples = []
    for _ in range(reps):
        if device == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            a.record()
            fn()
            b.record()
            torch.cuda.synchronize()
            samples.append(a.elapsed_time(b))
        else:
            t0 = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def outputs(name: str, m, ids: torch.Tensor) -> dict:
    with torch.no_grad():
        if name == "t5":
            return {"hidden": m(input_ids=ids[None]).last_hidden_state[0]}
        o = m(input_ids=ids[None], output_hidden_states=True)
        out = {"hidden": o.last_hidden_state[0], "penultimate": o.hidden_states[-2][0]}
        if hasattr(o, "text_embeds") and o.text_embeds is not None:
            out["text_embeds"] = o.text_embeds[0]
        else:
            out["pooled"] = o.pooler_output[0]
        return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True, help="scratch folder for the checkpoints and goldens (~11 GB full size)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default="t5,clip-l,clip-g")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--tiny", action="store_true", help="small configs (CPU smoke test of the whole path)")
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    os.makedirs(args.out, exist_ok=True)
    report = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "torch": torch.__version__, "tiny": args.tiny, "models": {}}
    for i, (name, (cfg, n)) in enumerate(configs(args.tiny).items()):
        if name not in args.only.split(","):
            continue
        t0 = time.time()
        torch.manual_seed(1000 + i)
        m = build(name, cfg, device).half()
        dst = os.path.join(args.weights, name)
        os.makedirs(dst, exist_ok=True)
        if name == "clip-l":
            # ComfyUI-style single file: text_model.* names (transformers 5 keeps a CLIPTextModel's names bare).
            sd = {("text_model." + k if not k.startswith("text_model.") else k): v.contiguous() for k, v in m.state_dict().items()}
            save_file(sd, os.path.join(dst, "clip_l.safetensors"))
        else:
            m.save_pretrained(dst, max_shard_size="4GB")
        saved_s = time.time() - t0
        m = m.float()
        g = torch.Generator().manual_seed(7 + i)
        ids = make_ids(name, cfg.vocab_size, n, g).to(device)
        ref = outputs(name, m, ids)
        save_file({"ids": ids.to(torch.int32).cpu(), **{k: v.float().contiguous().cpu() for k, v in ref.items()}},
                  os.path.join(dst, "golden.safetensors"))
        f32_ms = timed(lambda: outputs(name, m, ids), args.reps, device)
        mb = m.to(torch.bfloat16)
        bf = outputs(name, mb, ids)
        bf16_ms = timed(lambda: outputs(name, mb, ids), args.reps, device)
        params = sum(p.numel() for p in m.parameters())
        report["models"][name] = {
            "tokens": n, "params": params, "bf16_ms": bf16_ms, "f32_ms": f32_ms,
            "bf16_relL2_vs_f32": {k: rel_l2(bf[k].float(), ref[k].float()) for k in ref}, "save_seconds": saved_s,
        }
        print(f"{name}: {params / 1e9:.2f}B params, {n} tokens, bf16 {bf16_ms:.2f} ms, f32 {f32_ms:.2f} ms, "
              f"bf16 relL2 {report['models'][name]['bf16_relL2_vs_f32']}", flush=True)
        del m, mb
        if device == "cuda":
            torch.cuda.empty_cache()
    with open(os.path.join(args.out, "torch-encoders.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
