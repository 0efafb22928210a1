// Errors that name the problem and the fix. Every failure a user can cause or hit on a fresh machine
// (no Vulkan driver, missing feature, bad WGSL from a generator) surfaces as one of these, with a stable code
// (src/util/errors.ts) the CLI and the server map to exit codes and HTTP statuses.
import { DitError, ResourceError } from '../util/errors.js';

export class GpuUnavailableError extends ResourceError {
  constructor(detail: string) {
    super('NO_ADAPTER',
      `No usable GPU adapter: ${detail}\n` +
        `Fix: install a Vulkan driver. On a machine with an NVIDIA GPU install the NVIDIA driver (with its Vulkan ICD); ` +
        `without a GPU, install Mesa's CPU Vulkan driver (lavapipe) with 'bash scripts/install-lavapipe.sh' ` +
        `(Debian bookworm: mesa-vulkan-drivers from bookworm-backports, Mesa >= 25). 'dit doctor' lists what Dawn sees.`,
    );
    this.name = 'GpuUnavailableError';
  }
}

export class MissingGpuFeatureError extends ResourceError {
  constructor(feature: string, adapter: string, why: string) {
    super('NO_ADAPTER',
      `GPU adapter '${adapter}' lacks the '${feature}' feature, which ${why}.\n` +
        `Fix: on NVIDIA make sure Dawn is opened with the 'vulkan_enable_f16_on_nvidia' toggle (the engine does this); ` +
        `otherwise use a newer driver, or Mesa >= 25 lavapipe on CPU ('bash scripts/install-lavapipe.sh').`,
    );
    this.name = 'MissingGpuFeatureError';
  }
}

export class ShaderCompileError extends DitError {
  constructor(label: string, messages: string, source: string) {
    const numbered = source
      .split('\n')
      .map((l, i) => `${String(i + 1).padStart(4)}| ${l}`)
      .join('\n');
    super('INTERNAL', `WGSL kernel '${label}' failed to compile:\n${messages}\n--- source ---\n${numbered}`);
    this.name = 'ShaderCompileError';
  }
}

/** The GPU device is gone (driver reset, out of memory): work on it cannot continue. */
export class DeviceLostError extends ResourceError {
  constructor(detail: string) {
    super('DEVICE_LOST', `GPU device lost (${detail}); reopen the engine (restart the command or server). If it happened while allocating, the model or resolution needs more GPU memory than the adapter has.`);
    this.name = 'DeviceLostError';
  }
}

/** An allocation the adapter cannot make. */
export class GpuOutOfMemoryError extends ResourceError {
  constructor(message: string) {
    super('OUT_OF_GPU_MEMORY', message);
    this.name = 'GpuOutOfMemoryError';
  }
}
