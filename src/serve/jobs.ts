// A generation request inside the server: parameters, deadline, progress and the record of where each step ran.
// Jobs are created by the HTTP layer, advanced by the driver and read by the status, SSE and dashboard routes.
import { EventEmitter } from 'node:events';
import type { GpuId } from '../scheduler/types.js';
import type { GenerationParams, RequestProgress } from './engine.js';

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
export type OutputFormat = 'png' | 'jpeg' | 'webp';

export interface StepRecord {
  /** 0-based scheduler step. */
  step: number;
  gpus: readonly GpuId[];
  /** Seconds on the server clock. */
  start: number;
  end: number;
}

/** Events a job emits: 'step' (StepRecord, with latents for previews), 'state' (JobState). */
export interface JobEvents {
  step: [StepRecord & { latents: Float32Array }];
  state: [JobState];
}

export class Job extends EventEmitter<JobEvents> {
  state: JobState = 'queued';
  readonly stepLog: StepRecord[] = [];
  readonly progress: RequestProgress = { text: null, state: null, stepsDone: 0 };
  cancelRequested = false;
  finishedAt: number | null = null;
  error: string | null = null;
  /** The request field a failure is the client's fault for (e.g. "prompt" when it exceeds the token budget). */
  errorParam: string | null = null;
  /** Where the image was stored (set when done). */
  resultPath: string | null = null;
  /** Seconds spent in text encoding and decoding (accounted on the worker that ran them). */
  encodeSeconds = 0;
  decodeSeconds = 0;

  constructor(
    /** Public id ("gen_..."). */
    readonly id: string,
    /** Scheduler id. */
    readonly num: number,
    readonly params: GenerationParams,
    readonly firstStep: number,
    readonly arrival: number,
    readonly deadline: number,
    /** Admitted although the feasibility test said the deadline cannot be met. */
    readonly bestEffort: boolean,
    readonly format: OutputFormat,
  ) {
    super();
    this.setMaxListeners(0);
  }

  /** Denoising steps the scheduler plans for this job (image-to-image skips the first ones). */
  get totalSteps(): number {
    return this.params.steps - this.firstStep;
  }

  get finished(): boolean {
    return this.state === 'done' || this.state === 'failed' || this.state === 'cancelled';
  }

  /** Deadline met? null while unfinished; cancelled and failed jobs never meet it. */
  get met(): boolean | null {
    if (!this.finished) return null;
    return this.state === 'done' && this.finishedAt !== null && this.finishedAt <= this.deadline + 1e-9;
  }

  setState(s: JobState): void {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s);
  }
}
