// The messages between the HTTP thread (src/serve/engine-thread.ts) and the engine thread
// (src/serve/engine-host.ts). Everything is plain data (structured clone); large arrays (latents, images) are
// transferred, not copied. Times cross on process.hrtime's clock (monotonic, one for the whole process): each
// thread's performance.now() has its own origin, and timeOrigin is a wall-clock reading that a clock step skews.

/** Milliseconds on process.hrtime's clock at this thread's performance.now() = 0 (both clocks are monotonic). */
export const HR_OFFSET_MS = Number(process.hrtime.bigint()) / 1e6 - performance.now();
import { DitError, ERROR_CODES, type ErrorCode } from '../util/errors.js';
import type { ServeConfig } from './config.js';
import type { GenerationParams, PromptProblem, RgbImage } from './engine.js';

export interface EngineThreadData {
  cfg: ServeConfig;
  /** One Int32 per GPU: 1 = the driver asks the running assignment to stop after its current step. */
  stopFlags: SharedArrayBuffer;
}

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  /** A DitError's code, or a system error's (ENOENT ...). */
  code?: string;
}

export type StageMessage =
  | { kind: 'encode'; seconds: number }
  | { kind: 'decode'; seconds: number }
  | { kind: 'step'; step: number; startHrMs: number; endHrMs: number; latents: Float32Array };

export type ToEngine =
  | { type: 'run'; runId: number; gpu: number; requestId: number; jobId: string; params: GenerationParams; totalSteps: number; stepsDone: number; steps: number; group?: number[] }
  | { type: 'release'; jobId: string }
  | { type: 'preview'; callId: number; gpu: number; params: GenerationParams; latents: Float32Array }
  | { type: 'checkPrompt'; callId: number; gpu: number; prompt: Pick<GenerationParams, 'prompt' | 'negativePrompt' | 'guidance'> }
  | { type: 'kill'; gpu: number; reason: string }
  | { type: 'closeWorker'; gpu: number }
  | { type: 'held'; callId: number }
  | { type: 'crashForTest'; reason: string }
  | { type: 'blockForTest'; ms: number }
  | { type: 'close'; callId: number };

export type FromEngine =
  | { type: 'log'; message: string }
  | { type: 'ready'; workers: { gpu: number; description: string }[]; measured: [number, [number, number[]][]][]; sequenceParallel: boolean }
  | { type: 'openFailed'; error: SerializedError }
  | { type: 'stage'; runId: number; ev: StageMessage }
  | { type: 'done'; runId: number; completed: number; image?: RgbImage; error?: SerializedError; busySeconds: number; sync: [string, number][] }
  | { type: 'lost'; gpu: number; reason: string }
  /** An error escaped on the engine thread (a bug): every GPU is lost; the thread frees its devices and idles. */
  | { type: 'fatal'; error: SerializedError }
  | { type: 'reply'; callId: number; value?: RgbImage | PromptProblem | number | null; error?: SerializedError };

export function serializeError(e: unknown): SerializedError {
  if (!(e instanceof Error)) return { name: 'Error', message: String(e) };
  const code = (e as { code?: unknown }).code;
  return { name: e.name, message: e.message, stack: e.stack, code: typeof code === 'string' ? code : undefined };
}

/** The error again on this side: a DitError keeps its code (exit status, HTTP status), others their name and code. */
export function reviveError(s: SerializedError): Error {
  let e: Error;
  if (s.code && s.code in ERROR_CODES) {
    e = new DitError(s.code as ErrorCode, s.message);
  } else {
    e = new Error(s.message);
    if (s.code) (e as Error & { code?: string }).code = s.code;
  }
  e.name = s.name;
  if (s.stack) e.stack = s.stack;
  return e;
}
