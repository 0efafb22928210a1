// One Dawn device per GPU in one process. Dawn always takes the first adapter it finds, and identical GPUs share
// a name, so native/nccl-bridge builds a Vulkan layer (vk_device_select) that shows the loader one physical device:
// the index in TETRISERVE_VK_DEVICE, read when the Dawn instance enumerates adapters. We set it before each
// GpuContext.open() and restore it after. Chosen over one worker process per GPU because the NCCL bridge's
// single-process mode then drives every GPU from one thread (one NCCL group per exchange, no IPC hop) and the
// staging memory of every device is in one address space (docs/parallel.md).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GpuContext, type OpenOptions } from '../gpu/context.js';
import { DitError } from '../util/errors.js';

export const LAYER_DIR = fileURLToPath(new URL('../../native/nccl-bridge/build/', import.meta.url));
export const LAYER_NAME = 'VK_LAYER_TETRISERVE_device_select';

/** Makes the Vulkan loader load the device-select layer for instances created from now on. */
export function enableDeviceSelectLayer(): void {
  if (!existsSync(`${LAYER_DIR}/libvk_device_select.so`)) {
    throw new Error(`the Vulkan device-select layer is not built (${LAYER_DIR}); run: node native/nccl-bridge/build.mjs`);
  }
  const cur = process.env.VK_LAYER_PATH;
  if (!cur?.split(':').includes(LAYER_DIR)) process.env.VK_LAYER_PATH = cur ? `${LAYER_DIR}:${cur}` : LAYER_DIR;
  const layers = process.env.VK_INSTANCE_LAYERS;
  if (!layers?.split(':').includes(LAYER_NAME)) process.env.VK_INSTANCE_LAYERS = layers ? `${layers}:${LAYER_NAME}` : LAYER_NAME;
  process.env.NODEVICE_SELECT = '1'; // Mesa's implicit device-select layer recurses into ours (GPU-NOTES)
}

/** Opens a Dawn device on GPU `index` (Vulkan physical-device order, which matches CUDA's on NVIDIA machines). */
export async function openGpu(index: number, opts: OpenOptions = {}): Promise<GpuContext> {
  enableDeviceSelectLayer();
  const prev = process.env.TETRISERVE_VK_DEVICE;
  process.env.TETRISERVE_VK_DEVICE = String(index);
  try {
    return await GpuContext.open(opts);
  } catch (e) {
    // Named by GPU, with the code kept (no adapter is NO_ADAPTER: exit 6, HTTP 503; not an internal error).
    const message = `GPU ${index}: ${(e as Error).message}`;
    if (!(e instanceof DitError)) throw new Error(message, { cause: e });
    const named = new DitError(e.code, message, { cause: e });
    named.name = e.name;
    throw named;
  } finally {
    if (prev === undefined) delete process.env.TETRISERVE_VK_DEVICE;
    else process.env.TETRISERVE_VK_DEVICE = prev;
  }
}

/** One context per GPU, in index order. */
export async function openGpus(count: number, opts: OpenOptions = {}): Promise<GpuContext[]> {
  const out: GpuContext[] = [];
  for (let i = 0; i < count; i++) out.push(await openGpu(i, opts));
  return out;
}
