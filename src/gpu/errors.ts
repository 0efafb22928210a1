// Errors that name the problem and the fix. Every failure a user can cause or hit on a fresh machine
// (no Vulkan driver, missing feature, bad WGSL from a generator) surfaces as one of these.

export class GpuUnavailableError extends Error {
  constructor(detail: string) {
    super(
      `No usable GPU adapter: ${detail}\n` +
        `Fix: install a Vulkan driver. On a machine with an NVIDIA GPU install the NVIDIA driver (with its Vulkan ICD); ` +
        `without a GPU, install Mesa's CPU Vulkan driver (lavapipe) with 'bash scripts/install-lavapipe.sh' ` +
        `(Debian bookworm: mesa-vulkan-drivers from bookworm-backports, Mesa >= 25). 'dit doctor' lists what Dawn sees.`,
    );
    this.name = 'GpuUnavailableError';
  }
}

export class MissingGpuFeatureError extends Error {
  constructor(feature: string, adapter: string, why: string) {
    super(
      `GPU adapter '${adapter}' lacks the '${feature}' feature, which ${why}.\n` +
        `Fix: on NVIDIA make sure Dawn is opened with the 'vulkan_enable_f16_on_nvidia' toggle (the engine does this); ` +
        `otherwise use a newer driver, or Mesa >= 25 lavapipe on CPU ('bash scripts/install-lavapipe.sh').`,
    );
    this.name = 'MissingGpuFeatureError';
  }
}

export class ShaderCompileError extends Error {
  constructor(label: string, messages: string, source: string) {
    const numbered = source
      .split('\n')
      .map((l, i) => `${String(i + 1).padStart(4)}| ${l}`)
      .join('\n');
    super(`WGSL kernel '${label}' failed to compile:\n${messages}\n--- source ---\n${numbered}`);
    this.name = 'ShaderCompileError';
  }
}
