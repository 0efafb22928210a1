// Dawn prints some messages from native code with no hook to route them:
//  - dawn::WarningLog() writes with fprintf(stderr): on every requestAdapter() the Vulkan backend reports
//    "maxDynamic{Uniform,Storage}BuffersPerPipelineLayout artificially reduced from N to 16 ..." (Dawn clamps a
//    driver limit to its own, src/dawn/native/Limits.cpp; harmless). dawn.node has no flag, toggle, logging
//    callback or env var for it: src/utils/log.cc prints unless Dawn was compiled with DAWN_DISABLE_LOGGING.
//  - dawn.node's device logging callback (src/dawn/node/binding/GPUDevice.cpp) printf()s to STDOUT: every shader
//    with Tint warnings prints its "Compilation log for [ShaderModule ...]" there (Device.cpp
//    EmitCompilationLog), mixed into the program's own output.
// Both happen synchronously inside the call (requestAdapter, createShaderModule), so the engine points the file
// descriptor at an in-memory file for that call only (native/nccl-bridge/src/fd_capture.c), then replays what is
// not known noise on stderr. No JavaScript runs while it is redirected, so the progress bar and other output
// are untouched. With --debug (DIT_DEBUG=1) stderr is not captured (Dawn prints as it always did) and the
// compilation messages are printed by GpuContext from getCompilationInfo(). Without the addon
// (no C compiler at install) everything prints as before; nothing else changes.
import { createRequire } from 'node:module';
import { isMainThread } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

interface FdCapture {
  begin(fd: number): [number, number];
  end(fd: number, saved: number, capture: number): string;
}

export const FD_CAPTURE_PATH = fileURLToPath(new URL('../../native/nccl-bridge/build/fd_capture.node', import.meta.url));

let addon: FdCapture | null | undefined;

function loadAddon(): FdCapture | null {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(FD_CAPTURE_PATH) as FdCapture;
    } catch {
      addon = null;
    }
  }
  return addon;
}

/** Whether native output can be captured here (the addon was built). */
export function nativeCaptureAvailable(): boolean {
  return loadAddon() !== null;
}

/** Dawn's stderr lines that carry no information for a user: dropped unless --debug. */
export const BENIGN_DAWN_LINES: readonly RegExp[] = [
  /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/,
];

function debugOn(): boolean {
  return process.env.DIT_DEBUG === '1';
}

/**
 * Runs a synchronous call with native fd `fd` (1 or 2) captured, and returns its result and the captured text.
 * Without the addon the call runs uncaptured (captured = '').
 */
export function captureNative<T>(fd: 1 | 2, fn: () => T): { result: T; captured: string } {
  const a = loadAddon();
  if (!a) return { result: fn(), captured: '' };
  let handles: [number, number];
  try {
    handles = a.begin(fd);
  } catch {
    return { result: fn(), captured: '' };
  }
  let captured = '';
  let result: T;
  try {
    result = fn();
  } finally {
    captured = a.end(fd, handles[0], handles[1]);
  }
  return { result, captured };
}

/** The captured stderr text minus the benign lines (kept verbatim otherwise, multi-line messages included). */
export function withoutBenign(text: string): string {
  if (!text) return '';
  const kept = text.split('\n').filter((l) => !BENIGN_DAWN_LINES.some((re) => re.test(l)));
  return kept.join('\n');
}

/**
 * Runs a synchronous Dawn call that may print to native stderr; the known benign lines are dropped (shown with
 * --debug), anything else is replayed on stderr right away.
 */
export function quietDawnStderr<T>(fn: () => T): T {
  if (debugOn()) return fn(); // --debug: Dawn prints as it always did
  const { result, captured } = captureNative(2, fn);
  const rest = withoutBenign(captured);
  if (rest.trim()) process.stderr.write(rest.endsWith('\n') ? rest : `${rest}\n`);
  return result;
}

/**
 * Runs createShaderModule (or another call that can trigger dawn.node's device log) with native stdout captured,
 * with --debug too (stdout carries the program's output, `--json` included). A "Compilation log for
 * [ShaderModule ...]" is dropped: the caller reads the same messages through getCompilationInfo() and prints
 * them with --debug. Anything else the device logged goes to stderr.
 */
export function quietDawnStdout<T>(fn: () => T): T {
  // Off the main thread (the server's engine thread) the HTTP thread keeps writing to stdout while a shader is
  // created, and its lines would be captured, moved or dropped: Tint's messages (none for this project's shaders,
  // test/gpu/tensor-core-shaders.test.ts) print as they come instead. Start-up's stderr capture (adapters) stays:
  // it happens before the server listens, and other lines caught in it are replayed.
  if (!isMainThread) return fn();
  const { result, captured } = captureNative(1, fn);
  const rest = withoutCompilationLogs(captured);
  if (rest.trim()) process.stderr.write(rest.endsWith('\n') ? rest : `${rest}\n`);
  return result;
}

/**
 * dawn.node prints each device log entry as "<type>:\n<message>" with no newline after the message. A
 * compilation log's message starts "Compilation log for [ShaderModule"; it ends where the next "<type>:\n"
 * starts (Tint's own lines read "warning: " with a space, never a newline) or at the end of the text.
 */
export function withoutCompilationLogs(text: string): string {
  if (!text) return '';
  // No newline separates one entry's message from the next entry's "<type>:" line, so split before the type.
  const entries = text.split(/(?=(?:verbose|info|warning|error|unknown):\n)/);
  return entries.filter((e) => !/^(?:verbose|info|warning|error|unknown):\nCompilation log for /.test(e)).join('');
}
