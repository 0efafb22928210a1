// Native output capture (src/gpu/native-output.ts): what Dawn prints from native code is dropped when it is known
// noise, replayed on stderr otherwise, and Tint's compilation log never reaches stdout (it goes to --debug).
import { execFileSync } from 'node:child_process';
import { writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { GpuContext } from '../../src/gpu/context.js';
import { FD_CAPTURE_PATH, nativeCaptureAvailable, quietDawnStderr, withoutBenign, withoutCompilationLogs } from '../../src/gpu/native-output.js';

interface FdCapture {
  begin(fd: number): [number, number];
  end(fd: number, saved: number, capture: number): string;
}
let cap: FdCapture;
beforeAll(() => {
  execFileSync(process.execPath, ['native/nccl-bridge/build.mjs']);
  cap = createRequire(import.meta.url)(FD_CAPTURE_PATH) as FdCapture;
});
afterEach(() => {
  delete process.env.DIT_DEBUG;
  vi.restoreAllMocks();
});

const BENIGN_U = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.';
const BENIGN_S = 'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 4294967295 to 16 to fit dynamic offset allocation limit.';
const REAL = "Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file\n    at operator() (BackendVk.cpp:368)\n";

describe('filters', () => {
  it('drops exactly the benign Dawn lines and keeps every other line verbatim', () => {
    expect(withoutBenign(`${BENIGN_U}\n${BENIGN_S}\n`).trim()).toBe('');
    expect(withoutBenign(`${BENIGN_U}\n${REAL}${BENIGN_S}\n`)).toBe(`${REAL}`);
    // A line that only resembles it (other limit, other wording) is kept.
    const near = 'Warning: maxStorageBuffersPerShaderStage artificially reduced from 99 to 8 to fit something.';
    expect(withoutBenign(near)).toBe(near);
  });

  it('drops compilation logs from the device log and keeps other entries', () => {
    const log = 'warning:\nCompilation log for [ShaderModule "k"]:\n\n1 warning(s) generated while compiling the shader:\n:3:1 warning: use of deprecated builtin\n   ^^^';
    const other = 'warning:\nsomething the device wants to say';
    expect(withoutCompilationLogs(log)).toBe('');
    expect(withoutCompilationLogs(`${log}${other}`)).toBe(other);
    expect(withoutCompilationLogs(`${other}${log}`)).toBe(other);
    expect(withoutCompilationLogs(`${log}\n${log}`)).toBe('');
  });
});

describe('capture', () => {
  it('the addon is built here', () => {
    expect(nativeCaptureAvailable()).toBe(true);
  });

  it('drops benign native stderr lines and replays the rest on stderr; --debug leaves the descriptor alone', () => {
    const replayed: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => { replayed.push(String(s)); return true; });
    const r = quietDawnStderr(() => {
      writeSync(2, `${BENIGN_U}\n${REAL}${BENIGN_S}\n`); // a native write(2), as Dawn's fprintf is
      return 42;
    });
    expect(r).toBe(42);
    expect(replayed.join('')).toBe(REAL);

    // Debug: nothing captured, nothing replayed; the text reaches fd 2 itself (seen through an outer capture).
    process.env.DIT_DEBUG = '1';
    replayed.length = 0;
    const [s, c] = cap.begin(2);
    try {
      quietDawnStderr(() => writeSync(2, `${BENIGN_U}\n`));
    } finally {
      expect(cap.end(2, s, c)).toBe(`${BENIGN_U}\n`);
    }
    expect(replayed).toEqual([]);
  });

  it('restores the descriptor when the call throws', () => {
    const [s, c] = cap.begin(2);
    let outer = '';
    try {
      expect(() => quietDawnStderr(() => { writeSync(2, 'inner\n'); throw new Error('boom'); })).toThrow('boom');
      writeSync(2, 'after\n');
    } finally {
      outer = cap.end(2, s, c);
    }
    // 'inner' was captured by the inner call and replayed through process.stderr; 'after' reached the outer fd 2.
    expect(outer).toContain('after\n');
  });
});

describe('Tint compilation messages', () => {
  // Tint warns "code is unreachable" for a statement after return: a warning every adapter produces.
  const WARNS = '@compute @workgroup_size(1) fn main() {\n  return;\n  var x = 1;\n}';

  it('never reach stdout; with --debug they are printed on stderr with the shader and line', async () => {
    const ctx = await GpuContext.open();
    try {
      const errors: string[] = [];
      vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => { errors.push(a.join(' ')); });
      let [s, c] = cap.begin(1);
      let out = '';
      try {
        await ctx.pipeline('warns-quiet', WARNS);
      } finally {
        out = cap.end(1, s, c);
      }
      expect(out).toBe('');
      expect(errors).toEqual([]);

      process.env.DIT_DEBUG = '1';
      [s, c] = cap.begin(1);
      try {
        await ctx.pipeline('warns-debug', WARNS);
      } finally {
        out = cap.end(1, s, c);
      }
      expect(errors.join('\n')).toMatch(/\[gpu\] shader 'warns-debug' line 3:3: warning: code is unreachable/);
      expect(out).toBe(''); // stdout stays clean with --debug too (`--json --debug` must parse)
    } finally {
      ctx.destroy();
    }
  });
});
