// The engine thread's entry (a worker_threads Worker started by src/serve/engine-thread.ts): it opens every GPU's
// Dawn device and engine here, runs the assignments the driver sends, and keeps each request's text conditioning
// and latents between assignments, so that only steps, events and images cross to the HTTP thread. A lost device
// leaves the state here intact: the request continues on another GPU from its last completed step.
import { parentPort, workerData } from 'node:worker_threads';
import type { RequestProgress } from './engine.js';
import { HR_OFFSET_MS, serializeError, type EngineThreadData, type FromEngine, type ToEngine } from './engine-protocol.js';
import { openDeviceWorkers } from './pool.js';
import type { GroupExecutors } from './groups.js';
import type { DeviceWorker } from './worker.js';

const port = parentPort;
if (!port) throw new Error('src/serve/engine-host.ts is the engine thread: start it with openEngineThread, not directly');
const { cfg, stopFlags } = workerData as EngineThreadData;
const stop = new Int32Array(stopFlags);
const post = (m: FromEngine, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);

let workers: DeviceWorker[] = [];
let groups: GroupExecutors | null = null;
/** Each job's progress (text conditioning, pipeline state) while it is in its server, by job id. */
const progress = new Map<string, RequestProgress>();

function worker(gpu: number): DeviceWorker {
  const w = workers.find((x) => x.gpu === gpu);
  if (!w) throw new Error(`the engine thread has no GPU ${gpu}`);
  return w;
}

async function runAssignment(m: Extract<ToEngine, { type: 'run' }>): Promise<void> {
  const w = worker(m.gpu);
  let pr = progress.get(m.jobId);
  if (!pr) {
    pr = { text: null, state: null, stepsDone: m.stepsDone };
    progress.set(m.jobId, pr);
  } else if (pr.stepsDone !== m.stepsDone) {
    const error = serializeError(new Error(`request ${m.requestId}: the driver counts ${m.stepsDone} steps done, the engine thread ${pr.stepsDone} (bookkeeping bug)`));
    post({ type: 'done', runId: m.runId, completed: 0, error, busySeconds: w.busySeconds, sync: [] });
    return;
  }
  const sync: [string, number][] = [];
  w.onSyncMs = (stage, ms) => sync.push([stage, ms]);
  const toHrMs = (s: number): number => HR_OFFSET_MS + s * 1000;
  const out = await w.run({
    requestId: m.requestId, jobId: m.jobId, params: m.params, totalSteps: m.totalSteps, progress: pr, steps: m.steps,
    shouldStop: () => Atomics.load(stop, m.gpu) !== 0,
    onStage: (ev) => {
      if (ev.kind === 'step') {
        // The state's latents are updated in place by the next step: the HTTP thread gets its own copy.
        const latents = ev.latents.slice();
        post({ type: 'stage', runId: m.runId, ev: { kind: 'step', step: ev.step, startHrMs: toHrMs(ev.start), endHrMs: toHrMs(ev.end), latents } }, [latents.buffer as ArrayBuffer]);
      } else {
        post({ type: 'stage', runId: m.runId, ev });
      }
    },
  }, m.group);
  w.onSyncMs = null;
  post(
    { type: 'done', runId: m.runId, completed: out.completed, image: out.image, error: out.error ? serializeError(out.error) : undefined, busySeconds: w.busySeconds, sync },
    out.image ? [out.image.data.buffer as ArrayBuffer] : [],
  );
}

async function reply(callId: number, f: () => Promise<unknown>): Promise<void> {
  try {
    const value = (await f()) as Extract<FromEngine, { type: 'reply' }>['value'];
    const image = value && typeof value === 'object' && 'data' in value ? [value.data.buffer as ArrayBuffer] : [];
    post({ type: 'reply', callId, value }, image);
  } catch (e) {
    post({ type: 'reply', callId, error: serializeError(e) });
  }
}

async function closeAll(): Promise<void> {
  groups?.destroy();
  groups = null;
  await Promise.all(workers.map((w) => w.close()));
}

/** Set once an error escaped (a bug): every GPU counts as lost and nothing more runs here. */
let failed = false;

// A thread must not be torn down while Dawn has work in flight: dawn.node then throws into a terminating isolate
// and Node aborts the whole process (seen on lavapipe). So an error that escapes here does not end the thread;
// it is reported (the HTTP thread marks every GPU lost and fails in-flight work with it) and the devices are freed.
function fatal(e: unknown): void {
  if (failed) return;
  failed = true;
  post({ type: 'fatal', error: serializeError(e) });
  closeAll().catch(() => undefined);
}
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

port.on('message', (m: ToEngine) => {
  if (failed && m.type !== 'close') return;
  switch (m.type) {
    case 'run':
      runAssignment(m).catch((e: unknown) => post({ type: 'done', runId: m.runId, completed: 0, error: serializeError(e), busySeconds: 0, sync: [] }));
      break;
    case 'release':
      progress.delete(m.jobId);
      break;
    case 'preview':
      void reply(m.callId, () => worker(m.gpu).preview(m.params, m.latents));
      break;
    case 'checkPrompt':
      void reply(m.callId, () => worker(m.gpu).checkPrompt(m.prompt));
      break;
    case 'kill':
      worker(m.gpu).kill(m.reason);
      break;
    case 'closeWorker':
      void worker(m.gpu).close();
      break;
    case 'held':
      void reply(m.callId, async () => progress.size);
      break;
    case 'blockForTest': {
      // The engine thread's event loop held for `ms` (as a long synchronous encode would): the HTTP thread must not notice.
      const until = performance.now() + m.ms;
      while (performance.now() < until);
      break;
    }
    case 'crashForTest':
      setTimeout(() => {
        throw new Error(`test: ${m.reason}`);
      });
      break;
    case 'close':
      // Devices freed, then the port closes and the thread ends by itself (nothing of Dawn's is left running).
      void reply(m.callId, closeAll).then(() => port.close());
      break;
  }
});

try {
  const opened = await openDeviceWorkers(cfg, { log: (message) => post({ type: 'log', message }) });
  workers = opened.workers;
  groups = opened.groups;
  for (const w of workers) w.onLost((reason) => post({ type: 'lost', gpu: w.gpu, reason }));
  post({
    type: 'ready',
    workers: workers.map((w) => ({ gpu: w.gpu, description: w.description })),
    measured: [...opened.measured].map(([k, byRes]) => [k, [...byRes]]),
    sequenceParallel: groups !== null,
  });
} catch (e) {
  // openDeviceWorkers freed what it had opened; the thread ends by itself once Dawn has nothing left to do (the
  // HTTP thread does not terminate it: see fatal()).
  post({ type: 'openFailed', error: serializeError(e) });
  port.close();
}
