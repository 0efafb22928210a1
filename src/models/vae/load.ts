// Loads an AutoencoderKL onto the GPU: finds the weights (a diffusers `vae/` folder or its pipeline root, BFL's
// `ae.safetensors` or a folder holding it), infers and validates the config, streams the weights up, then packs
// every conv weight ONCE into the [k, k, Cin, Cout] layout the conv kernels read (one GPU dispatch per weight,
// all in one submit; the PyTorch-layout upload is freed), on tensor-core adapters also into the [Cout, k*k*Cin]
// GEMM layout of the tensor-core conv path, and views BFL's 1x1-conv attention weights as [out, in].
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { GpuContext } from '../../gpu/context.js';
import { allocTensor, encodeCalls, type KernelCall, type TensorView } from '../../gpu/kernel.js';
import { WeightStore } from '../../graph/weights.js';
import { packConv2dWeight } from '../../kernels-wgsl/conv2d.js';
import { packConv2dWeightForGemm } from '../../kernels-wgsl/conv2d-gemm.js';
import { Checkpoint } from '../../loading/checkpoint.js';
import { validateListing } from '../../loading/listing.js';
import { CheckpointError } from '../../loading/safetensors.js';
import { uploadWeights } from '../../loading/upload.js';
import type { VaeConfig } from './config.js';
import { autoencoderKl, vaeGraphWeightShape, vaeWeightSources } from './family.js';

export type VaePart = 'decoder' | 'encoder' | 'both';

export interface LoadedVae {
  config: VaeConfig;
  /** Which side's weights were uploaded. */
  part: VaePart;
  /** Conv weights are also stored in the GEMM layout (`<name>.gemm`) for the tensor-core conv path. */
  gemmWeights: boolean;
  /** Canonical name -> GPU weight (conv weights packed), for compile(). */
  store: WeightStore;
  /** Where the weights came from. */
  description: string;
  gpuBytes: number;
  seconds: number;
  warnings: string[];
  destroy(): void;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/** Opens the VAE checkpoint a path designates (vae/ folder, pipeline root, ae.safetensors or a folder with it). */
export async function openVaeCheckpoint(path: string): Promise<Checkpoint> {
  if ((await isDir(path)) && !(await isDir(join(path, 'vae'))) && (await isFile(join(path, 'ae.safetensors')))) {
    return Checkpoint.open(join(path, 'ae.safetensors'), { what: 'VAE weights' });
  }
  return Checkpoint.open(path, { component: 'vae', what: 'VAE weights' });
}

const ENCODER_SIDE = /^(encoder\.|quant_conv\.)/;

/** Reads a VAE's config without touching tensor data (inspect, tests). */
export async function inspectVae(path: string): Promise<{ config: VaeConfig; unexpected: string[]; description: string }> {
  const ck = await openVaeCheckpoint(path);
  try {
    const config = configOf(ck);
    const { unexpected } = validateListing(ck, autoencoderKl.expectedTensors(config), `the inferred autoencoder-kl ${config.layout} configuration`);
    return { config, unexpected, description: ck.description };
  } finally {
    await ck.close();
  }
}

function configOf(ck: Checkpoint): VaeConfig {
  const layout = autoencoderKl.detect(ck);
  if (!layout) {
    const sample = ck.listTensors().slice(0, 4).join(', ');
    throw new CheckpointError(`${ck.description}: not an AutoencoderKL VAE (no decoder.conv_in / decoder.up_blocks or decoder.up tensors; first names: ${sample || 'none'}); ` +
      'point at the vae/ folder of a diffusers pipeline or at FLUX\'s ae.safetensors', ck.description);
  }
  return autoencoderKl.inferConfig(ck, layout);
}

/**
 * Opens, checks, uploads and packs a VAE. `part` limits the upload to the decoder (text to image) or encoder.
 * Throws CheckpointError naming file and tensor for anything missing, mis-shaped or inconsistent.
 */
export async function loadVae(ctx: GpuContext, path: string, options: { part?: VaePart; chunkBytes?: number; gemmWeights?: boolean } = {}): Promise<LoadedVae> {
  const t0 = performance.now();
  const ck = await openVaeCheckpoint(path);
  try {
    const config = configOf(ck);
    const { unexpected } = validateListing(ck, autoencoderKl.expectedTensors(config), `the inferred autoencoder-kl ${config.layout} configuration`);
    const part = options.part ?? 'both';
    // The tensor-core conv path reads [Cout, k*k*Cin]: made here once rather than on every replay (default: where that path runs).
    const gemmWeights = options.gemmWeights ?? ctx.caps.tensorCores;
    if (part === 'encoder' && !config.hasEncoder) throw new CheckpointError(`${ck.description}: no encoder weights in this VAE (decoder only); image to image needs the full VAE`, ck.description);
    const wanted = (name: string) => (part === 'both' ? true : part === 'encoder' ? ENCODER_SIDE.test(name) : !ENCODER_SIDE.test(name));
    const sources = vaeWeightSources(config).filter((s) => wanted(s.name));
    const raw = await uploadWeights(ctx, ck, sources, { chunkBytes: options.chunkBytes });
    const store = new WeightStore();
    const packed: GPUBuffer[] = [];
    let gpuBytes = 0;
    try {
      const calls: KernelCall[] = [];
      for (const s of sources) {
        const view = raw.views.get(s.name);
        if (!view) throw new Error(`VAE load: weight '${s.name}' was not uploaded (bug)`);
        const shape = vaeGraphWeightShape(s, s.role);
        if (s.role === 'conv') {
          const dst: TensorView = allocTensor(ctx, shape, 'f16', `${s.name} (packed)`);
          packed.push(dst.buffer);
          calls.push(await packConv2dWeight(ctx, { src: view, dst, label: `pack ${s.name}` }));
          store.set(s.name, dst);
          if (gemmWeights) {
            const [k, , cin, cout] = shape;
            const gemm = allocTensor(ctx, [cout, k * k * cin], 'f16', `${s.name} (gemm)`);
            packed.push(gemm.buffer);
            // Same compute pass as the pack above: WebGPU orders the dispatches and makes its writes visible.
            calls.push(await packConv2dWeightForGemm(ctx, { src: dst, dst: gemm, label: `pack ${s.name} for gemm` }));
            store.set(`${s.name}.gemm`, gemm);
            gpuBytes += cout * k * k * cin * 2;
          }
        } else {
          store.set(s.name, { ...view, shape });
        }
        gpuBytes += shape.reduce((a, b) => a * b, 1) * 2;
      }
      const enc = ctx.device.createCommandEncoder({ label: 'vae-pack-conv-weights' });
      encodeCalls(enc, calls);
      ctx.device.queue.submit([enc.finish()]);
      await ctx.sync();
    } catch (e) {
      for (const b of packed) b.destroy();
      raw.destroy();
      throw e;
    }
    // The PyTorch-layout conv uploads are no longer needed.
    for (const s of sources) if (s.role === 'conv') raw.views.get(s.name)!.buffer.destroy();
    const warnings: string[] = [];
    if (raw.saturated > 0) warnings.push(`${ck.description}: ${raw.saturated} VAE weight values exceed the f16 range and were clamped to +-65504`);
    const ignored = unexpected.filter((n) => wanted(n));
    if (ignored.length) warnings.push(`${ck.description}: ${ignored.length} tensors not used by the VAE graph were ignored (e.g. ${ignored.slice(0, 3).join(', ')})`);
    return {
      config, part, gemmWeights, store, description: ck.description, gpuBytes, seconds: (performance.now() - t0) / 1000, warnings,
      destroy: () => {
        for (const b of packed) b.destroy();
        raw.destroy();
        store.destroy();
      },
    };
  } finally {
    await ck.close();
  }
}
