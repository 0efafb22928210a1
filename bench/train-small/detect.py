"""Meaning detector for the small model: is the named colour at the named 3x3 grid position?

Pixel statistics only (the TypeScript twin is test/helpers/shape-detector.ts; keep them identical):
  1. classify every pixel to its nearest palette colour (heldout.json "colours", RGB 0..255) when the
     Euclidean RGB distance is below MAX_DIST, else to nothing;
  2. count the pixels of the named colour in each of the 9 grid cells;
  3. the prompt is followed when the named cell has the most such pixels and at least MIN_FRACTION of its area.
"""
from __future__ import annotations

import json
import os

import numpy as np

MAX_DIST = 70.0
MIN_FRACTION = 0.03
HERE = os.path.dirname(os.path.abspath(__file__))


def load_heldout(path: str = os.path.join(HERE, "heldout.json")) -> dict:
    with open(path) as f:
        return json.load(f)


def cell_counts(img: np.ndarray, colour: str, palette: dict[str, list[int]]) -> np.ndarray:
    """img: (H, W, 3) uint8 RGB. Returns the 9 per-cell fractions of pixels classified as `colour`."""
    h, w, _ = img.shape
    names = list(palette)
    pal = np.array([palette[n] for n in names], dtype=np.float64)  # (P, 3)
    d = np.linalg.norm(img.astype(np.float64)[:, :, None, :] - pal[None, None], axis=-1)  # (H, W, P)
    nearest = d.argmin(-1)
    hit = (nearest == names.index(colour)) & (d.min(-1) < MAX_DIST)
    out = np.zeros(9)
    for cell in range(9):
        r, c = divmod(cell, 3)
        y0, y1 = (r * h) // 3, ((r + 1) * h) // 3
        x0, x1 = (c * w) // 3, ((c + 1) * w) // 3
        out[cell] = hit[y0:y1, x0:x1].mean()
    return out


def follows(img: np.ndarray, colour: str, position: str, heldout: dict) -> tuple[bool, np.ndarray]:
    fr = cell_counts(img, colour, heldout["colours"])
    p = heldout["positions"].index(position)
    ok = bool(fr[p] >= MIN_FRACTION and fr[p] >= fr.max())
    return ok, fr


def main() -> None:
    """Check the detector on the renderer's own images of the held-out prompts (must be 100%),
    and on a wrong position (must fail): a detector that cannot fail proves nothing."""
    import sys
    sys.path.insert(0, HERE)
    import dataset

    h = load_heldout()
    right = wrong = 0
    for i, p in enumerate(h["prompts"]):
        spec = dataset.spec_for_prompt(p["colour"], p["shape"], p["position"], p["background"])
        spec.objects[0].radius = dataset.SIZES["small"]  # the harder case
        img = ((dataset.render([spec])[0].permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)
        right += follows(img, p["colour"], p["position"], h)[0]
        other = h["positions"][(h["positions"].index(p["position"]) + 4) % 9]
        wrong += follows(img, p["colour"], other, h)[0]
    n = len(h["prompts"])
    print(f"renderer images: {right}/{n} detected at the named position; {wrong}/{n} at a wrong position")
    assert right == n and wrong == 0


if __name__ == "__main__":
    main()
