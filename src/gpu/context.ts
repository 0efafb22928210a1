// One Dawn device and everything kernels need from it: capabilities, a compiled-pipeline cache, buffers,
// uploads, readbacks. See GPU-NOTES.md for why the instance is held here and which toggles are passed.
import { create, globals } from 'webgpu';
import { BufferPool } from './buffer-pool.js';
import { DeviceLostError, GpuOutOfMemoryError, GpuUnavailableError, MissingGpuFeatureError, ShaderCompileError } from './errors.js';
import { quietDawnStderr, quietDawnStdout } from './native-output.js';
import { DEFAULT_SUBGROUP_MATRIX_SYNTAX, probeSubgroupMatrixSyntax, type SubgroupMatrixSyntax } from './subgroup-matrix-syntax.js';

// dawn.node exposes GPUBufferUsage & co. as globals only once installed on globalThis.
Object.assign(globalThis, globals);

export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

export interface GpuCaps {
  adapterName: string;
  vendor: string;
  architecture: string;
  backend: string;
  isCpu: boolean;
  f16: boolean;
  subgroups: boolean;
  subgroupMinSize: number;
  subgroupMaxSize: number;
  timestampQuery: boolean;
  /** Subgroup-matrix (tensor core) configurations usable from WGSL; empty where the adapter has none. */
  subgroupMatrixConfigs: SubgroupMatrixConfig[];
  /** True when an f16 x f16 -> f32 16x16x16 (or 16x8x16) subgroup-matrix config exists: the tensor-core paths. */
  tensorCores: boolean;
  /**
   * How this device's WGSL compiler wants subgroupMatrixLoad/Store spelled (asked at open when the device has
   * subgroup matrices; subgroup-matrix-syntax.ts). Generators pass it to sgLoad/sgStore.
   */
  subgroupMatrixSyntax: SubgroupMatrixSyntax;
  robustness: boolean;
  limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxStorageBuffersPerShaderStage: number;
    maxComputeWorkgroupsPerDimension: number;
    minStorageBufferOffsetAlignment: number;
  };
}

export interface OpenOptions {
  /** Substring of the adapter name to pick (Dawn's `adapter=` toggle). */
  adapterName?: string;
  /**
   * Dawn's robustness transform clamps every buffer index; it costs the tensor-core path dearly (GPU-NOTES).
   * Default: on. Benchmarks and serving turn it off once the kernels are proven bounds-correct under it.
   */
  robustness?: boolean;
  /** Fail unless the adapter supports shader-f16 (the engine's storage type). Default true. */
  requireF16?: boolean;
  /** Ignore the adapter's subgroup-matrix support (forces the portable kernels; used by tests to cover both). */
  disableTensorCores?: boolean;
}

const BASE_TOGGLES = ['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia'];
const NO_ROBUSTNESS_TOGGLES = ['disable_robustness', 'disable_workgroup_init', 'skip_validation'];

/**
 * Every Dawn instance this process created. Kept for the process's life: Dawn still delivers events (a destroyed
 * device's `lost` promise, adapter probes) after the context that owned the instance is gone, and a collected
 * instance makes it abort at random (GPU-NOTES). A process opens a handful, so holding them costs nothing.
 */
const INSTANCES: GPU[] = [];

/** Creates a Dawn instance (held for the process's life, see INSTANCES). */
export function createDawnInstance(extraToggles: string[] = [], adapterName?: string): GPU {
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp'; // silences a Vulkan loader error
  // Dawn quantizes timestamp queries to 65.536 µs by default (a browser's timing-attack defence): every pass time
  // was a multiple of 2^16 ns, a few percent of a millisecond-long kernel. Turned off for exact GPU times.
  const flags = [`enable-dawn-features=${[...BASE_TOGGLES, ...extraToggles].join(',')}`, 'disable-dawn-features=timestamp_quantization'];
  if (adapterName) flags.push(`adapter=${adapterName}`);
  const instance = quietDawnStderr(() => create(flags)) as unknown as GPU;
  INSTANCES.push(instance);
  return instance;
}

/**
 * Every adapter Dawn can see, as "backend: name" lines. Dawn has no enumeration API: asking for an adapter
 * name that cannot match makes it reject with the list (GPU-NOTES), which is parsed here.
 */
export async function listAdapters(): Promise<string[]> {
  const probe = createDawnInstance([], '__no_such_adapter__');
  try {
    // Dawn prints benign limit warnings to native stderr inside requestAdapter (native-output.ts).
    const a = await quietDawnStderr(() => probe.requestAdapter());
    return a ? [`${a.info.vendor} ${a.info.architecture}`.trim()] : [];
  } catch (e) {
    return [...(e as Error).message.matchAll(/backend: '([^']+)', name: '([^']+)'/g)].map((m) => `${m[1]}: ${m[2]}`);
  }
}

export class GpuContext {
  readonly caps: GpuCaps;
  /** Staging and transient buffers (readback, upload chunks) come from here. */
  readonly pool: BufferPool;
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();
  private destroyed = false;
  private lost: string | null = null;
  private readonly scopes: GPUBuffer[][] = [];
  private readonly shared = new Map<string, GPUBuffer>();

  private constructor(
    // Held for the device's whole life: if the instance is collected Dawn aborts at random (GPU-NOTES).
    readonly instance: GPU,
    readonly adapter: GPUAdapter,
    readonly device: GPUDevice,
    caps: GpuCaps,
  ) {
    this.caps = caps;
    this.pool = new BufferPool(device, 256 * 2 ** 20);
    device.lost.then((info) => {
      if (!this.destroyed) this.lost = `${info.reason}: ${info.message}`;
    });
  }

  static async open(options: OpenOptions = {}): Promise<GpuContext> {
    const robustness = options.robustness ?? true;
    const instance = createDawnInstance(robustness ? [] : NO_ROBUSTNESS_TOGGLES, options.adapterName);
    let adapter: GPUAdapter | null;
    try {
      adapter = await quietDawnStderr(() => instance.requestAdapter({ powerPreference: 'high-performance' }));
    } catch (e) {
      throw new GpuUnavailableError((e as Error).message);
    }
    if (!adapter) throw new GpuUnavailableError('Dawn found no Vulkan adapter on this machine.');
    const info = adapter.info as GPUAdapterInfo & { subgroupMatrixConfigs?: SubgroupMatrixConfig[]; backendType?: string };
    const name = info.description || info.device || info.architecture || info.vendor || 'unknown adapter';
    const has = (f: string) => adapter!.features.has(f as GPUFeatureName);
    const requireF16 = options.requireF16 ?? true;
    if (requireF16 && !has('shader-f16')) {
      throw new MissingGpuFeatureError('shader-f16', name, 'the engine needs for f16 weights and activations');
    }
    const smFeature = 'chromium-experimental-subgroup-matrix';
    const smConfigs: SubgroupMatrixConfig[] =
      has(smFeature) && !options.disableTensorCores ? [...(info.subgroupMatrixConfigs ?? [])].map((c) => ({
        componentType: String(c.componentType),
        resultComponentType: String(c.resultComponentType),
        M: c.M,
        N: c.N,
        K: c.K,
      })) : [];
    const requiredFeatures = ['shader-f16', 'subgroups', 'timestamp-query', smConfigs.length ? smFeature : '']
      .filter((f) => f && has(f)) as GPUFeatureName[];
    const al = adapter.limits;
    const requiredLimits: Record<string, number> = {
      maxStorageBufferBindingSize: al.maxStorageBufferBindingSize,
      maxBufferSize: al.maxBufferSize,
      maxComputeWorkgroupStorageSize: al.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: al.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: al.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: al.maxComputeWorkgroupSizeY,
      maxStorageBuffersPerShaderStage: al.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupsPerDimension: al.maxComputeWorkgroupsPerDimension,
    };
    const device = await quietDawnStderr(() => adapter!.requestDevice({ requiredFeatures, requiredLimits }));
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      // Surfaced loudly: a silent validation error means a silent wrong image.
      console.error(`[gpu] uncaptured ${ev.error.constructor.name}: ${ev.error.message}`);
    };
    const isCpu = /llvmpipe|lavapipe|swiftshader/i.test(`${name} ${info.architecture} ${info.vendor}`) ||
      (info as { type?: string }).type === 'cpu';
    const tensorCores = smConfigs.some(
      (c) => c.componentType === 'f16' && c.resultComponentType === 'f32' && c.M === 16 && c.K === 16 && (c.N === 16 || c.N === 8),
    );
    const subgroupMatrixSyntax = device.features.has(smFeature as GPUFeatureName) && device.features.has('shader-f16')
      ? await probeSubgroupMatrixSyntax(device)
      : DEFAULT_SUBGROUP_MATRIX_SYNTAX;
    const caps: GpuCaps = {
      adapterName: name,
      vendor: info.vendor,
      architecture: info.architecture,
      backend: info.backendType ?? 'vulkan',
      isCpu,
      f16: device.features.has('shader-f16'),
      subgroups: device.features.has('subgroups'),
      subgroupMinSize: (info as { subgroupMinSize?: number }).subgroupMinSize ?? 0,
      subgroupMaxSize: (info as { subgroupMaxSize?: number }).subgroupMaxSize ?? 0,
      timestampQuery: device.features.has('timestamp-query'),
      subgroupMatrixConfigs: smConfigs,
      tensorCores,
      subgroupMatrixSyntax,
      robustness,
      limits: {
        maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
        maxBufferSize: device.limits.maxBufferSize,
        maxComputeWorkgroupStorageSize: device.limits.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: device.limits.maxComputeInvocationsPerWorkgroup,
        maxStorageBuffersPerShaderStage: device.limits.maxStorageBuffersPerShaderStage,
        maxComputeWorkgroupsPerDimension: device.limits.maxComputeWorkgroupsPerDimension,
        minStorageBufferOffsetAlignment: device.limits.minStorageBufferOffsetAlignment,
      },
    };
    return new GpuContext(instance, adapter, device, caps);
  }

  /** Throws if the device was lost (driver reset, out of memory): callers must not keep encoding into it. */
  checkAlive(): void {
    if (this.lost) throw new DeviceLostError(this.lost);
    if (this.destroyed) throw new Error('GPU context used after destroy()');
  }

  /**
   * Compiled pipeline for a WGSL source, cached by key. Compilation errors come back with the numbered source.
   * The key must identify the source uniquely (kernel name + every generator parameter).
   */
  pipeline(key: string, source: string, entryPoint = 'main'): Promise<GPUComputePipeline> {
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.compile(key, source, entryPoint);
      this.pipelines.set(key, p);
      p.catch(() => this.pipelines.delete(key));
    }
    return p;
  }

  get pipelineCount(): number {
    return this.pipelines.size;
  }

  private async compile(label: string, source: string, entryPoint: string): Promise<GPUComputePipeline> {
    this.checkAlive();
    const device = this.device;
    device.pushErrorScope('validation');
    // dawn.node prints Tint's warnings to stdout from inside createShaderModule; they are captured there and
    // shown from getCompilationInfo instead, with --debug only (native-output.ts).
    const module = quietDawnStdout(() => device.createShaderModule({ label, code: source }));
    const info = await module.getCompilationInfo();
    if (process.env.DIT_DEBUG === '1') {
      for (const m of info.messages) {
        if (m.type !== 'error') console.error(`[gpu] shader '${label}' line ${m.lineNum}:${m.linePos}: ${m.type}: ${m.message}`);
      }
    }
    const errors = info.messages.filter((m) => m.type === 'error');
    const scopeError = await device.popErrorScope();
    if (errors.length || scopeError) {
      const text = errors.map((m) => `  line ${m.lineNum}:${m.linePos}: ${m.message}`).join('\n') || scopeError?.message || '';
      throw new ShaderCompileError(label, text, source);
    }
    try {
      return await device.createComputePipelineAsync({ label, layout: 'auto', compute: { module, entryPoint } });
    } catch (e) {
      throw new ShaderCompileError(label, (e as Error).message, source);
    }
  }

  /** A storage buffer (plus copy usages) of at least `bytes`, rounded up to 16 so vec4 views stay in bounds. */
  createBuffer(bytes: number, label?: string, extraUsage = 0): GPUBuffer {
    this.checkAlive();
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    if (size > this.caps.limits.maxBufferSize) {
      throw new GpuOutOfMemoryError(`buffer '${label ?? ''}' of ${size} bytes exceeds the adapter's maxBufferSize ${this.caps.limits.maxBufferSize}; use a smaller resolution or model`);
    }
    const buffer = this.device.createBuffer({
      label,
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | extraUsage,
    });
    this.scopes.at(-1)?.push(buffer);
    return buffer;
  }

  /**
   * A small buffer cached for the context's lifetime under `key` (placeholder bindings for optional kernel
   * operands, etc.). Never captured by withBufferScope, so kernels may create it lazily inside a scope.
   */
  sharedBuffer(key: string, bytes = 16): GPUBuffer {
    let b = this.shared.get(key);
    if (!b || b.size < bytes) {
      const scopes = this.scopes.splice(0);
      try {
        b = this.createBuffer(bytes, key);
      } finally {
        this.scopes.push(...scopes);
      }
      this.shared.set(key, b);
    }
    return b;
  }

  /**
   * Runs `fn` and destroys every buffer createBuffer made meanwhile once it settles: lets benchmarks and tests
   * build throwaway tensors without leaking GPU memory between cases.
   */
  async withBufferScope<R>(fn: () => Promise<R>): Promise<R> {
    const scope: GPUBuffer[] = [];
    this.scopes.push(scope);
    try {
      return await fn();
    } finally {
      this.scopes.splice(this.scopes.indexOf(scope), 1);
      await this.device.queue.onSubmittedWorkDone();
      for (const b of scope) b.destroy();
    }
  }

  /** Uploads host data into a new storage buffer. */
  upload(data: ArrayBufferView, label?: string): GPUBuffer {
    const buf = this.createBuffer(data.byteLength, label);
    this.write(buf, data);
    return buf;
  }

  /** Writes host data at a byte offset (padding the tail to 4 bytes, as writeBuffer requires). */
  write(buf: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (bytes.byteLength % 4 === 0) {
      this.device.queue.writeBuffer(buf, byteOffset, bytes);
    } else {
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(bytes);
      this.device.queue.writeBuffer(buf, byteOffset, padded);
    }
  }

  /** Copies `bytes` from a GPU buffer to the host after all submitted work finishes. */
  async readback(buf: GPUBuffer, bytes = buf.size, byteOffset = 0): Promise<ArrayBuffer> {
    this.checkAlive();
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.pool.acquire(size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'readback');
    try {
      const enc = this.device.createCommandEncoder();
      enc.copyBufferToBuffer(buf, byteOffset, staging, 0, size);
      this.device.queue.submit([enc.finish()]);
      await staging.mapAsync(GPUMapMode.READ, 0, size);
      const out = staging.getMappedRange(0, size).slice(0, bytes);
      staging.unmap();
      this.checkAlive();
      return out;
    } finally {
      this.pool.release(staging);
    }
  }

  /** Fills a buffer with a byte pattern (tests poison outputs with NaN patterns before a run). */
  fill(buf: GPUBuffer, pattern: number, bytes = buf.size): void {
    const words = new Uint32Array(Math.ceil(bytes / 4)).fill(pattern >>> 0);
    this.device.queue.writeBuffer(buf, 0, words);
  }

  /** Resolves once the GPU has finished all work submitted so far. */
  async sync(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
    this.checkAlive();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pipelines.clear();
    this.pool.destroy();
    this.device.destroy();
  }
}
