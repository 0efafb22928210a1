"""Write tiny RANDOM checkpoints with the real tensor names (see tiny_models.py for the architectures).

    python3 bench/reference/make_tiny.py --out test/fixtures/tiny-models

Writes
  flux-tiny/flux1-tiny.safetensors                     BFL single-file layout, bf16
  flux-tiny-diffusers/transformer/{config.json, diffusion_pytorch_model-0000{1,2}-of-00002.safetensors,
                                   diffusion_pytorch_model.safetensors.index.json}   diffusers layout, f32
  flux-tiny-schnell/flux1-tiny-schnell.safetensors     BFL layout, bf16, no guidance embedding
  sd3-tiny/transformer/{config.json, diffusion_pytorch_model.safetensors}             fp16, pos_embed buffer stored
  sd35-tiny/transformer/{config.json, 2 shards + index}                               bf16, no pos_embed buffer
The two FLUX-tiny layouts hold exactly the same values (weights are rounded to bf16 first), so one golden file
serves both. Deterministic: CPU torch.Generator seeds from tiny_models.SEEDS.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from common import init_weights, round_through, save_sharded, save_single  # noqa: E402
from flux_ref import bfl_to_diffusers, diffusers_config, flux_param_shapes  # noqa: E402
from sd3_ref import sd3_config_to_json, sd3_param_shapes, sincos_pos_embed_table  # noqa: E402
from tiny_models import FLUX_TINY, FLUX_TINY_SCHNELL, PATHS, SD3_TINY, SD35_TINY, SEEDS  # noqa: E402

MAX_FILE_BYTES = 3_000_000


def write_json(path: str, obj) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def flux_metadata(cfg, name: str) -> dict[str, str]:
    return {
        "format": "pt",
        "axes_dim": json.dumps(cfg.axes_dim),
        "flux_config": cfg.to_json(),
        "note": f"{name}: tiny RANDOM test model with FLUX.1 tensor names (bench/reference/make_tiny.py)",
    }


def make_all(root: str) -> list[str]:
    written: list[str] = []

    # FLUX tiny (dev-like), both layouts with identical values.
    cfg = FLUX_TINY
    cfg.validate()
    sd = round_through(init_weights(flux_param_shapes(cfg), SEEDS["flux-tiny"]), torch.bfloat16)
    p = os.path.join(root, PATHS["flux-tiny"])
    save_single(p, sd, torch.bfloat16, flux_metadata(cfg, "flux-tiny"))
    written.append(p)
    tdir = os.path.join(root, PATHS["flux-tiny-diffusers"], "transformer")
    save_sharded(tdir, bfl_to_diffusers(sd, cfg), torch.float32, num_shards=2)
    write_json(os.path.join(tdir, "config.json"), diffusers_config(cfg))
    written += [os.path.join(tdir, n) for n in sorted(os.listdir(tdir))]

    # FLUX tiny schnell-like.
    cfg = FLUX_TINY_SCHNELL
    cfg.validate()
    sd = init_weights(flux_param_shapes(cfg), SEEDS["flux-tiny-schnell"])
    p = os.path.join(root, PATHS["flux-tiny-schnell"])
    save_single(p, sd, torch.bfloat16, flux_metadata(cfg, "flux-tiny-schnell"))
    written.append(p)

    # SD3 tiny: fp16 single file with the pos_embed buffer as diffusers would save it.
    cfg = SD3_TINY
    cfg.validate()
    sd = init_weights(sd3_param_shapes(cfg, include_pos_embed=False), SEEDS["sd3-tiny"])
    sd["pos_embed.pos_embed"] = sincos_pos_embed_table(cfg).float()[None]
    tdir = os.path.join(root, PATHS["sd3-tiny"], "transformer")
    save_single(os.path.join(tdir, "diffusion_pytorch_model.safetensors"), sd, torch.float16, {"format": "pt"})
    write_json(os.path.join(tdir, "config.json"), sd3_config_to_json(cfg))
    written += [os.path.join(tdir, n) for n in sorted(os.listdir(tdir))]

    # SD3.5 tiny: bf16, sharded, no pos_embed buffer.
    cfg = SD35_TINY
    cfg.validate()
    sd = init_weights(sd3_param_shapes(cfg, include_pos_embed=False), SEEDS["sd35-tiny"])
    tdir = os.path.join(root, PATHS["sd35-tiny"], "transformer")
    save_sharded(tdir, sd, torch.bfloat16, num_shards=2)
    write_json(os.path.join(tdir, "config.json"), sd3_config_to_json(cfg))
    written += [os.path.join(tdir, n) for n in sorted(os.listdir(tdir))]

    too_big = [(w, os.path.getsize(w)) for w in written if os.path.getsize(w) > MAX_FILE_BYTES]
    if too_big:
        raise SystemExit(f"tiny checkpoint files over {MAX_FILE_BYTES} bytes: {too_big}")
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="test/fixtures/tiny-models", help="fixtures root")
    args = ap.parse_args()
    for w in make_all(args.out):
        print(f"{os.path.getsize(w):>10}  {w}")


if __name__ == "__main__":
    main()
