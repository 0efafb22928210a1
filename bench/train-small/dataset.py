"""Procedural captioned image set for the small trained FLUX-style model.

Coloured shapes on a coloured background, placed on a 3x3 grid, with sizes and counts:
    "a red circle on a blue background, top left"
    "a large green square on a gray background, center"
    "two yellow triangles on a black background, top and bottom right"
    "a red circle and a white diamond on a blue background, left and right"

Everything is deterministic: captions/specs come from numpy Generators with fixed seeds and the
renderer is pure tensor arithmetic (torch, any device), anti-aliased by 2x supersampling.

Held-out colour x shape x position triples (the meaning test) never appear as an object in training;
they are chosen by a fixed seed and written to heldout.json (`python dataset.py --write-heldout`),
which the Python and TypeScript detectors both read.
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass

import numpy as np
import torch

# RGB 0..255. Well separated so a nearest-palette pixel classifier is reliable.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 210, 40),
    "orange": (245, 140, 30),
    "purple": (140, 60, 190),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
# Backgrounds may also be gray (never a shape colour, so it never collides with the named colour).
BACKGROUNDS: dict[str, tuple[int, int, int]] = {**COLOURS, "gray": (128, 128, 128)}
SHAPES = ["circle", "square", "triangle", "diamond", "cross"]
PLURAL = {"circle": "circles", "square": "squares", "triangle": "triangles", "diamond": "diamonds", "cross": "crosses"}
# 3x3 grid, row-major: index = row * 3 + col.
POSITIONS = ["top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right"]
SIZES = {"small": 0.24, "large": 0.40}  # radius as a fraction of the cell side

HELDOUT_SEED = 1234
N_HELDOUT = 24
HERE = os.path.dirname(os.path.abspath(__file__))
HELDOUT_PATH = os.path.join(HERE, "heldout.json")


@dataclass
class Obj:
    colour: str
    shape: str
    pos: int  # 0..8
    radius: float  # fraction of the cell side
    dx: float  # jitter, fraction of the cell side
    dy: float


@dataclass
class Spec:
    background: str
    objects: list[Obj]
    caption: str


def choose_heldout() -> list[tuple[str, str, int]]:
    """N_HELDOUT (colour, shape, position) triples, each pair of which still occurs in training."""
    rng = np.random.default_rng(HELDOUT_SEED)
    all_triples = [(c, s, p) for c in COLOURS for s in SHAPES for p in range(9)]
    order = rng.permutation(len(all_triples))
    chosen: list[tuple[str, str, int]] = []
    used_cs, used_cp, used_sp = set(), set(), set()
    for i in order:
        c, s, p = all_triples[i]
        # Spread them out: no (colour, shape), (colour, pos) or (shape, pos) pair held out twice,
        # so every pair keeps most of its training examples.
        if (c, s) in used_cs or (c, p) in used_cp or (s, p) in used_sp:
            continue
        chosen.append((c, s, p))
        used_cs.add((c, s)); used_cp.add((c, p)); used_sp.add((s, p))
        if len(chosen) == N_HELDOUT:
            break
    return chosen


def test_prompts() -> list[dict]:
    """One prompt per held-out triple, on a seeded background colour different from the shape's."""
    rng = np.random.default_rng(HELDOUT_SEED + 1)
    out = []
    for c, s, p in choose_heldout():
        bgs = [b for b in BACKGROUNDS if b != c]
        bg = bgs[int(rng.integers(len(bgs)))]
        out.append({"colour": c, "shape": s, "position": POSITIONS[p], "background": bg,
                    "prompt": f"{art(c)} {s} on {art(bg)} background, {POSITIONS[p]}"})
    return out


def write_heldout(path: str = HELDOUT_PATH) -> None:
    data = {
        "comment": "Written by bench/train-small/dataset.py --write-heldout. Held-out (colour, shape, position) "
                   "triples never drawn in training; prompts for the meaning test. Colours are RGB 0..255.",
        "colours": {k: list(v) for k, v in BACKGROUNDS.items()},
        "shape_colours": list(COLOURS),
        "shapes": SHAPES,
        "positions": POSITIONS,
        "heldout": [{"colour": c, "shape": s, "position": POSITIONS[p]} for c, s, p in choose_heldout()],
        "prompts": test_prompts(),
    }
    with open(path, "w") as f:
        json.dump(data, f, indent=1, separators=(",", ": "))
        f.write("\n")


def art(word: str) -> str:
    """'a red' / 'an orange'."""
    return ("an " if word[0] in "aeiou" else "a ") + word


def _pos_phrase(ps: list[int]) -> str:
    if len(ps) == 1:
        return POSITIONS[ps[0]]
    return f"{POSITIONS[ps[0]]} and {POSITIONS[ps[1]]}"


def make_specs(n: int, seed: int, heldout: set[tuple[str, str, int]] | None = None) -> list[Spec]:
    """n random scenes; no object is a held-out triple."""
    heldout = set(choose_heldout()) if heldout is None else heldout
    rng = np.random.default_rng(seed)
    colours, shapes = list(COLOURS), SHAPES
    specs: list[Spec] = []

    def pick_obj(exclude_pos: int | None = None, colour: str | None = None, shape: str | None = None) -> Obj:
        while True:
            c = colour or colours[int(rng.integers(len(colours)))]
            s = shape or shapes[int(rng.integers(len(shapes)))]
            p = int(rng.integers(9))
            if p == exclude_pos or (c, s, p) in heldout:
                continue
            size = "small" if rng.random() < 0.5 else "large"
            r = SIZES[size] * float(rng.uniform(0.9, 1.1))
            slack = max(0.0, 0.5 - r - 0.04)  # keep the shape inside its cell
            return Obj(c, s, p, r, float(rng.uniform(-slack, slack)), float(rng.uniform(-slack, slack)))

    while len(specs) < n:
        u = rng.random()
        if u < 0.75:  # one object
            o = pick_obj()
            size_word = ("small " if o.radius < 0.32 else "large ") if rng.random() < 0.5 else ""
            objs = [o]
            head = f"{art(size_word + o.colour)} {o.shape}"
        elif u < 0.875:  # two of the same
            a = pick_obj()
            b = pick_obj(exclude_pos=a.pos, colour=a.colour, shape=a.shape)
            objs = sorted([a, b], key=lambda o: o.pos)
            head = f"two {a.colour} {PLURAL[a.shape]}"
        else:  # two different
            a = pick_obj()
            b = pick_obj(exclude_pos=a.pos)
            if (b.colour, b.shape) == (a.colour, a.shape):
                continue
            objs = sorted([a, b], key=lambda o: o.pos)
            head = f"{art(objs[0].colour)} {objs[0].shape} and {art(objs[1].colour)} {objs[1].shape}"
        bgs = [b for b in BACKGROUNDS if b not in {o.colour for o in objs}]
        bg = bgs[int(rng.integers(len(bgs)))]
        cap = f"{head} on {art(bg)} background, {_pos_phrase([o.pos for o in objs])}"
        specs.append(Spec(bg, objs, cap))
    return specs


def spec_for_prompt(colour: str, shape: str, position: str, background: str) -> Spec:
    p = POSITIONS.index(position)
    o = Obj(colour, shape, p, SIZES["large"], 0.0, 0.0)
    return Spec(background, [o], f"{art(colour)} {shape} on {art(background)} background, {position}")


def _shape_masks(x: torch.Tensor, y: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """x, y: offsets from the centre in pixels (B, H, W); r: radius in pixels (B, 1, 1).
    Returns (len(SHAPES), B, H, W) bool, one mask per shape, in SHAPES order."""
    ax, ay = x.abs(), y.abs()
    t = r * 0.33
    return torch.stack([
        x * x + y * y <= r * r,                                     # circle
        torch.maximum(ax, ay) <= r * 0.85,                          # square
        (y <= 0.8 * r) & (ax <= (y + r) / 1.8),                     # triangle: apex up, base at 0.8 r
        ax + ay <= r * 1.1,                                         # diamond
        ((ax <= t) & (ay <= r)) | ((ay <= t) & (ax <= r)),          # cross
    ])


def render(specs: list[Spec], size: int = 128, device: str | torch.device = "cpu") -> torch.Tensor:
    """Images in [-1, 1], shape (B, 3, size, size). Vectorised over the batch (fast on a GPU)."""
    ss = 2 * size  # 2x supersampling for anti-aliased edges
    coords = (torch.arange(ss, device=device, dtype=torch.float32) + 0.5) / 2.0  # output pixel units
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    cell = size / 3.0
    b = len(specs)
    bg = torch.tensor([BACKGROUNDS[s.background] for s in specs], device=device, dtype=torch.float32)
    img = bg.view(b, 3, 1, 1).expand(b, 3, ss, ss).clone()
    for slot in range(max(len(s.objects) for s in specs)):
        objs = [s.objects[slot] if slot < len(s.objects) else None for s in specs]
        valid = torch.tensor([o is not None for o in objs], device=device)
        objs = [o or specs[0].objects[0] for o in objs]
        cx = torch.tensor([((o.pos % 3) + 0.5 + o.dx) * cell for o in objs], device=device).view(b, 1, 1)
        cy = torch.tensor([((o.pos // 3) + 0.5 + o.dy) * cell for o in objs], device=device).view(b, 1, 1)
        r = torch.tensor([o.radius * cell for o in objs], device=device).view(b, 1, 1)
        shape_id = torch.tensor([SHAPES.index(o.shape) for o in objs], device=device)
        masks = _shape_masks(xx - cx, yy - cy, r)  # (S, B, ss, ss)
        m = masks[shape_id, torch.arange(b, device=device)] & valid.view(b, 1, 1)
        col = torch.tensor([COLOURS[o.colour] for o in objs], device=device, dtype=torch.float32)
        img = torch.where(m[:, None], col.view(b, 3, 1, 1), img)
    img = torch.nn.functional.avg_pool2d(img, 2)
    return img / 127.5 - 1.0


def save_png(img: torch.Tensor, path: str) -> None:
    from PIL import Image
    arr = ((img.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
    Image.fromarray(arr).save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write-heldout", action="store_true", help="(re)write heldout.json next to this file")
    ap.add_argument("--preview", help="write a PNG grid of 16 training samples here")
    a = ap.parse_args()
    if a.write_heldout:
        write_heldout()
        print(f"wrote {HELDOUT_PATH}")
    if a.preview:
        specs = make_specs(16, seed=0)
        imgs = render(specs)
        grid = imgs.view(4, 4, 3, 128, 128).permute(2, 0, 3, 1, 4).reshape(3, 512, 512)
        save_png(grid, a.preview)
        for s in specs:
            print(s.caption)


if __name__ == "__main__":
    main()
