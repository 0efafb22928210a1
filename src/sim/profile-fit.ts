// Derived latency profiles from a DiT's FLOP count and a few published latencies, so the simulator can run
// settings nobody has measured for us yet. Every derived number is marked "derived: ..." in the file, published
// ones "published: ...". Two latency models fitted to the same points give a sensitivity check of the
// derivation itself:
// - "efficiency" (the shipped profiles/flux1-dev-h100.json): step(N,k) = F(N) / (k Peff u(N/k)) + comm(N,k),
//   u(n) = n / (n + n0): GEMMs lose efficiency when each GPU holds few tokens;
// - "overhead" (profiles/flux1-dev-h100-altfit.json): step(N,k) = c0 + F(N) / (k Peff) + comm(N,k): a fixed
//   per-step cost (launches, synchronisation, the parts that do not parallelise) plus perfectly parallel FLOPs.
// N = image tokens + text tokens; comm = Ulysses all-to-all of Q, K, V and O in every layer.
//
// Run `node dist/sim/profile-fit.js profiles` to rewrite the derived profiles.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { imageTokens, makeProfile, parseProfile, profileToJson, type LatencyProfile, type ProfileEntry } from '../scheduler/profile.js';

export interface DitShape {
  name: string;
  /** Parameters in the transformer's linear layers (2 FLOPs per parameter per token). */
  linearParams: number;
  layers: number;
  hidden: number;
  textTokens: number;
}

export const FLUX1_DEV: DitShape = { name: 'FLUX.1-dev', linearParams: 11.9e9, layers: 57, hidden: 3072, textTokens: 512 };
/** SD3-medium: MMDiT with 24 joint blocks, hidden 1536, ~2B parameters; 77 CLIP + 256 T5 text tokens. */
export const SD3_MEDIUM: DitShape = { name: 'SD3-medium', linearParams: 2.0e9, layers: 24, hidden: 1536, textTokens: 333 };

export interface Interconnect {
  /** All-to-all bandwidth per GPU, bytes/s. */
  bytesPerSecond: number;
  /** Latency per collective, seconds. */
  latency: number;
}

export const NVLINK_H100: Interconnect = { bytesPerSecond: 300e9, latency: 4e-6 };
/** 4x A40 over PCIe 4.0 x16 (NVLink bridges only pair two cards): ~25 GB/s achievable, 10 µs per collective. */
export const PCIE4_A40: Interconnect = { bytesPerSecond: 25e9, latency: 10e-6 };

/** Step FLOPs: linear layers plus attention (QK^T and PV) over all tokens. */
export function stepFlops(m: DitShape, tokens: number): number {
  return 2 * m.linearParams * tokens + 4 * m.layers * tokens * tokens * m.hidden;
}

/** Ulysses all-to-all time per step at degree k (bf16 activations, four all-to-alls per layer). */
export function ulyssesSeconds(m: DitShape, tokens: number, k: number, net: Interconnect): number {
  if (k === 1) return 0;
  const bytes = 4 * m.layers * (tokens / k) * m.hidden * 2 * ((k - 1) / k);
  return bytes / net.bytesPerSecond + 4 * m.layers * net.latency;
}

export type LatencyModel = { kind: 'efficiency'; peff: number; n0: number } | { kind: 'overhead'; peff: number; c0: number };

export function modelStep(m: DitShape, net: Interconnect, lm: LatencyModel, resolution: number, k: number): number {
  const n = imageTokens(resolution) + m.textTokens;
  const f = stepFlops(m, n);
  const comm = ulyssesSeconds(m, n, k, net);
  if (lm.kind === 'efficiency') {
    const perGpu = n / k;
    return f / (k * lm.peff * (perGpu / (perGpu + lm.n0))) + comm;
  }
  return lm.c0 + f / (k * lm.peff) + comm;
}

/**
 * Step time of a batch of b same-resolution images under the same latency model: b times the FLOPs and the
 * all-to-all bytes; attention stays per image (F(N) per element), the GEMMs see b*N/k rows per GPU (efficiency
 * model: u(bN/k)), and the fixed per-step cost c0 is paid once (overhead model). Batch 1 equals modelStep.
 */
export function batchedModelStep(m: DitShape, net: Interconnect, lm: LatencyModel, resolution: number, k: number, b: number): number {
  const n = imageTokens(resolution) + m.textTokens;
  const f = b * stepFlops(m, n);
  const comm = ulyssesSeconds(m, b * n, k, net); // b x the bytes, the per-collective latency once
  if (lm.kind === 'efficiency') {
    const perGpu = (b * n) / k;
    return f / (k * lm.peff * (perGpu / (perGpu + lm.n0))) + comm;
  }
  return lm.c0 + f / (k * lm.peff) + comm;
}

/** The shipped FLUX.1-dev H100 profile's latency model (its notes: Peff 930 TFLOP/s, n0 675, fitted to xDiT's points). */
export const FLUX_H100_EFFICIENCY: LatencyModel = { kind: 'efficiency', peff: 930e12, n0: 675 };

/**
 * `base` plus derived batched step times (batchStepSeconds) at `resolutions` for `batches` at every degree, from
 * `lm` (the model the base was fitted with), each batch size marked "derived: ..." in the entry's provenance
 * (key "batch<b>"). Base step times are kept as they are.
 */
export function withDerivedBatches(base: LatencyProfile, m: DitShape, net: Interconnect, lm: LatencyModel, resolutions: number[], batches: number[], modelName: string): LatencyProfile {
  const desc = lm.kind === 'efficiency'
    ? `derived: b x FLOPs with GEMM efficiency u(b N/k) (same fit as this profile's batch-1 numbers: Peff ${(lm.peff / 1e12).toFixed(0)} TFLOP/s, n0 ${lm.n0}), b x all-to-all bytes; not measured`
    : `derived: fixed per-step cost c0 ${(lm.c0 * 1e3).toFixed(1)} ms paid once + b x FLOPs + b x all-to-all bytes; not measured`;
  const entries = base.entries.map((e) => {
    if (!resolutions.includes(e.resolution)) return e;
    const bs: Record<string, Record<string, number>> = {};
    const prov: Record<string, string> = { ...(e.provenance ?? {}) };
    for (const b of batches) {
      bs[String(b)] = Object.fromEntries(base.degrees.map((k) => [String(k), +batchedModelStep(m, net, lm, e.resolution, k, b).toFixed(6)]));
      prov[`batch${b}`] = `${desc}; replace with 'dit bench model --batch' measurements (scripts: src/sim/batch-profile.ts)`;
    }
    return { ...e, batchStepSeconds: bs, provenance: prov };
  });
  const notes = typeof base.notes === 'object' && base.notes !== null ? base.notes as Record<string, unknown> : { base: base.notes };
  return makeProfile({
    model: `${base.model}; ${modelName}`,
    device: base.device,
    degrees: base.degrees,
    entries,
    sources: base.sources,
    notes: { ...notes, batching: `batchStepSeconds at ${resolutions.map((r) => `${r}²`).join(', ')} for batch ${batches.join(', ')}: every one derived (${desc})` },
  });
}

export interface PublishedPoint {
  resolution: number;
  degree: number;
  stepSeconds: number;
  source: string;
}

/** xDiT's FLUX.1-dev 1024px latencies on H100 with torch.compile, 28 steps (docs/performance/flux.md), per step. */
export const XDIT_FLUX_H100: PublishedPoint[] = [
  { resolution: 1024, degree: 1, stepSeconds: 4.3 / 28, source: 'published: xDiT docs/performance/flux.md, FLUX.1-dev 1024px H100 torch.compile, 1 GPU 4.30 s / 28 steps' },
  { resolution: 1024, degree: 2, stepSeconds: 2.6 / 28, source: 'published: xDiT docs/performance/flux.md, FLUX.1-dev 1024px H100 torch.compile, Ring-2 2.60 s / 28 steps' },
  { resolution: 1024, degree: 4, stepSeconds: 1.63 / 28, source: 'published: xDiT docs/performance/flux.md, FLUX.1-dev 1024px H100 torch.compile, Ulysses-4 1.63 s / 28 steps' },
];

/**
 * Least-squares fit of the "overhead" model's (c0, Peff) to published points, in relative error. For fixed
 * Peff the best c0 has a closed form; Peff is found by golden-section search on a log scale.
 */
export function fitOverhead(m: DitShape, net: Interconnect, points: readonly PublishedPoint[]): { c0: number; peff: number; maxRelError: number } {
  const evalAt = (peff: number): { c0: number; err: number } => {
    // Residual r_i = (c0 + a_i - y_i) / y_i with a_i the FLOP + comm part: c0 = sum((y-a)/y^2) / sum(1/y^2).
    let num = 0;
    let den = 0;
    const a = points.map((p) => {
      const n = imageTokens(p.resolution) + m.textTokens;
      return stepFlops(m, n) / (p.degree * peff) + ulyssesSeconds(m, n, p.degree, net);
    });
    points.forEach((p, i) => {
      num += (p.stepSeconds - a[i]) / p.stepSeconds ** 2;
      den += 1 / p.stepSeconds ** 2;
    });
    const c0 = Math.max(0, num / den);
    const err = points.reduce((s, p, i) => s + ((c0 + a[i] - p.stepSeconds) / p.stepSeconds) ** 2, 0);
    return { c0, err };
  };
  let lo = Math.log(1e13);
  let hi = Math.log(5e15);
  const g = (Math.sqrt(5) - 1) / 2;
  for (let it = 0; it < 200; it++) {
    const x1 = hi - g * (hi - lo);
    const x2 = lo + g * (hi - lo);
    if (evalAt(Math.exp(x1)).err < evalAt(Math.exp(x2)).err) hi = x2;
    else lo = x1;
  }
  const peff = Math.exp((lo + hi) / 2);
  const { c0 } = evalAt(peff);
  const lm: LatencyModel = { kind: 'overhead', peff, c0 };
  const maxRelError = Math.max(...points.map((p) => Math.abs(modelStep(m, net, lm, p.resolution, p.degree) / p.stepSeconds - 1)));
  return { c0, peff, maxRelError };
}

export interface DerivedProfileSpec {
  shape: DitShape;
  net: Interconnect;
  model: LatencyModel;
  modelText: string;
  device: string;
  degrees: number[];
  resolutions: number[];
  published?: readonly PublishedPoint[];
  /** Fixed part of the group-change cost (assumed), plus the bf16 latent moved at `latentBytesPerSecond`. */
  groupChangeFixed: number;
  latentBytesPerSecond: number;
  why: string;
  sources: string[];
}

export function derivedProfile(spec: DerivedProfileSpec): LatencyProfile {
  const desc =
    spec.model.kind === 'efficiency'
      ? `derived: latency model F/(k Peff u(N/k)) + Ulysses all-to-all, Peff ${(spec.model.peff / 1e12).toFixed(0)} TFLOP/s, n0 ${spec.model.n0}`
      : `derived: latency model c0 + F/(k Peff) + Ulysses all-to-all, c0 ${(spec.model.c0 * 1e3).toFixed(1)} ms, Peff ${(spec.model.peff / 1e12).toFixed(0)} TFLOP/s`;
  const entries: ProfileEntry[] = spec.resolutions.map((resolution) => {
    const stepSeconds: Record<string, number> = {};
    const provenance: Record<string, string> = {};
    const tokens = imageTokens(resolution) + spec.shape.textTokens;
    for (const k of spec.degrees) {
      const pub = spec.published?.find((p) => p.resolution === resolution && p.degree === k);
      stepSeconds[String(k)] = +(pub ? pub.stepSeconds : modelStep(spec.shape, spec.net, spec.model, resolution, k)).toFixed(6);
      provenance[String(k)] = pub ? pub.source : `${desc}; tokens=${tokens}, step FLOPs=${(stepFlops(spec.shape, tokens) / 1e12).toFixed(1)} TFLOP`;
    }
    const latentBytes = (resolution / 8) ** 2 * 16 * 2;
    const groupChangeSeconds = +(spec.groupChangeFixed + latentBytes / spec.latentBytesPerSecond).toFixed(6);
    provenance.groupChange = `assumed: ${(spec.groupChangeFixed * 1e3).toFixed(0)} ms fixed + ${(latentBytes / 1e6).toFixed(2)} MB bf16 latent over ${(spec.latentBytesPerSecond / 1e9).toFixed(0)} GB/s; not a published figure`;
    return { resolution, stepSeconds, groupChangeSeconds, provenance };
  });
  return makeProfile({
    model: `${spec.shape.name} (${spec.modelText})`,
    device: spec.device,
    degrees: spec.degrees,
    entries,
    sources: spec.sources,
    notes: { why: spec.why, published: spec.published ? `${spec.published.length} step times are published figures; every other step time is derived` : 'every step time is derived; none is published or measured', derivation: desc },
  });
}

/** The alternative fit of FLUX.1-dev on 8x H100 to the same three published points as the shipped profile. */
export function fluxAltFitProfile(): LatencyProfile {
  const fit = fitOverhead(FLUX1_DEV, NVLINK_H100, XDIT_FLUX_H100);
  return derivedProfile({
    shape: FLUX1_DEV,
    net: NVLINK_H100,
    model: { kind: 'overhead', c0: fit.c0, peff: fit.peff },
    modelText: `alternative fit: fixed per-step overhead + parallel FLOPs; reproduces the published points within ${(100 * fit.maxRelError).toFixed(1)}%`,
    device: 'NVIDIA H100 80GB, NVLink (8 GPUs, sequence parallel degrees 1/2/4/8)',
    degrees: [1, 2, 4, 8],
    resolutions: [256, 512, 768, 1024, 1536, 2048],
    published: XDIT_FLUX_H100,
    groupChangeFixed: 0.02,
    latentBytesPerSecond: 25e9,
    why: 'Sensitivity check of profiles/flux1-dev-h100.json: same three published points, a different latency model (fixed per-step overhead instead of token-dependent GEMM efficiency), so the extrapolation to other resolutions and to 8 GPUs differs.',
    sources: ['xDiT docs/performance/flux.md (FLUX.1-dev, H100, torch.compile, 1024px, 28 steps)'],
  });
}

/**
 * The paper's second setting, SD3-medium on 4x A40 48GB. Nothing is published for it that we could read, so every
 * step time is derived: the shipped FLUX fit's GEMM-efficiency curve (same fraction of peak, 930/989) scaled to
 * the A40's 149.7 dense bf16 TFLOP/s, SD3-medium's FLOPs, Ulysses over PCIe 4.0.
 */
export function sd3A40Profile(): LatencyProfile {
  const peff = 149.7e12 * (930 / 989);
  return derivedProfile({
    shape: SD3_MEDIUM,
    net: PCIE4_A40,
    model: { kind: 'efficiency', peff, n0: 675 },
    modelText: 'MMDiT, 24 joint blocks, hidden 1536, 333 text tokens; every step time derived',
    device: 'NVIDIA A40 48GB x4, PCIe 4.0 (sequence parallel degrees 1/2/4)',
    degrees: [1, 2, 4],
    resolutions: [256, 512, 768, 1024, 1536, 2048],
    groupChangeFixed: 0.02,
    latentBytesPerSecond: 12e9,
    why: "The TetriServe paper's SD3 setting (4x A40 48GB). No per-step latencies were available to us: derived from FLOPs with the FLUX H100 fit's efficiency curve scaled to the A40 peak, so treat absolute numbers as rough.",
    sources: ['TetriServe (arXiv 2510.01565) evaluates SD3 on 4x A40 48GB', 'NVIDIA A40 datasheet: 149.7 TFLOP/s dense bf16 tensor', 'SD3-medium: 2B-parameter MMDiT, 24 blocks, hidden 1536'],
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = process.argv[2] ?? 'profiles';
  writeFileSync(join(dir, 'flux1-dev-h100-altfit.json'), profileToJson(fluxAltFitProfile()));
  writeFileSync(join(dir, 'sd3-medium-a40x4-derived.json'), profileToJson(sd3A40Profile()));
  const base = parseProfile(JSON.parse(readFileSync(join(dir, 'flux1-dev-h100.json'), 'utf8')), 'flux1-dev-h100.json');
  writeFileSync(join(dir, 'flux1-dev-h100-batch-derived.json'), profileToJson(withDerivedBatches(base, FLUX1_DEV, NVLINK_H100, FLUX_H100_EFFICIENCY, [256, 512], [2, 4], 'batched steps at 256² and 512² derived')));
  console.log(`wrote ${dir}/flux1-dev-h100-altfit.json, ${dir}/sd3-medium-a40x4-derived.json and ${dir}/flux1-dev-h100-batch-derived.json`);
}
