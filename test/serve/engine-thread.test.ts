// The engines on their own thread (src/serve/engine-thread.ts, the default): the HTTP thread gets the same
// images as in-process serving, request state on the engine thread is released when jobs leave, a crash of
// the thread is a loss of every GPU (in-flight work fails with the reason, nothing hangs, /readyz says so), a
// bad checkpoint fails start-up with the same error code as in-process, and a stale build is refused.
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/serve/jobs.js';
import { compiledEngineHost, type ThreadPool } from '../../src/serve/engine-thread.js';
import { defaultConfig } from '../../src/serve/config.js';
import { measuredProfile } from '../../src/serve/pool.js';
import { assembleServer, openPool, type RunningServer } from '../../src/serve/server.js';
import { errorCodeOf } from '../../src/util/errors.js';
import { tinyServer } from './helpers.js';

const servers: RunningServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function server(over: Parameters<typeof tinyServer>[0] = {}): Promise<RunningServer> {
  const s = await tinyServer({ resolutions: [32], ...over });
  servers.push(s);
  return s;
}

const post = async (s: RunningServer, body: object): Promise<any> => (await s.app.inject({ method: 'POST', url: '/v1/generations', payload: body })).json();

async function imageBytes(s: RunningServer, id: string): Promise<Buffer> {
  const r = await s.app.inject({ method: 'GET', url: `/v1/generations/${id}/image` });
  expect(r.statusCode).toBe(200);
  return r.rawPayload;
}

describe('engine thread', () => {
  it('serves from the thread, and an image equals the in-process one bit for bit', async () => {
    const threaded = await server();
    const inProcess = await server({ engineThread: false });
    expect(threaded.pool.home).toBe('thread');
    expect(inProcess.pool.home).toBe('in-process');
    const body = { prompt: 'a lighthouse at dusk', size: '32x32', steps: 3, seed: 7, wait: true };
    const a = await post(threaded, body);
    const b = await post(inProcess, body);
    expect(a.state).toBe('done');
    expect(b.state).toBe('done');
    const pa = await imageBytes(threaded, a.id);
    const pb = await imageBytes(inProcess, b.id);
    expect(pa.length).toBeGreaterThan(100);
    expect(pa.equals(pb)).toBe(true);
    // The HTTP thread never held the request's text conditioning or latents.
    expect(threaded.core.job(a.id)!.progress.state).toBeNull();
    expect(inProcess.core.job(b.id)!.progress.state).not.toBeNull();
  });

  it('the HTTP thread answers while the engine thread is busy (a synchronous 1.5 s stretch there)', async () => {
    const s = await server();
    const pool = s.pool as ThreadPool;
    const url = s.url!;
    const t0 = performance.now();
    pool.blockForTest(1500);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const a = performance.now();
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      times.push(performance.now() - a);
    }
    // All five answered well inside the engine thread's stretch; on one thread the first would wait ~1.5 s.
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(Math.max(...times)).toBeLessThan(500);
    // The engine thread is itself again afterwards: a generation completes.
    expect((await post(s, { prompt: 'after the stretch', size: '32x32', steps: 2, wait: true })).state).toBe('done');
  });

  it('releases request state on the thread when jobs finish, are cancelled or fail', async () => {
    const s = await server();
    const pool = s.pool as ThreadPool;
    // One long request running, one queued behind it (one GPU) and cancelled before it starts.
    const long = await post(s, { prompt: 'long', size: '32x32', steps: 12, slo_scale: 100 });
    const job = s.core.job(long.id)!;
    await new Promise<void>((r) => job.on('step', (st) => st.step === 1 && r()));
    expect(await pool.heldRequests()).toBe(1);
    const queued = await post(s, { prompt: 'queued', size: '32x32', steps: 4, slo_scale: 100 });
    expect((await s.app.inject({ method: 'DELETE', url: `/v1/generations/${queued.id}` })).statusCode).toBe(200);
    // Cancelled while running: it stops after its current step and leaves too.
    const running = await post(s, { prompt: 'cancel me while running', size: '32x32', steps: 40, slo_scale: 100 });
    const rj = s.core.job(running.id)!;
    await new Promise<void>((r) => rj.on('step', () => r()));
    expect((await s.app.inject({ method: 'DELETE', url: `/v1/generations/${running.id}` })).statusCode).toBe(200);
    await s.core.driver.idle();
    expect(job.state).toBe('done');
    expect(s.core.job(queued.id)!.state).toBe('cancelled');
    expect(rj.state).toBe('cancelled');
    expect(rj.progress.stepsDone).toBeLessThan(40);
    expect(await pool.heldRequests()).toBe(0);
  });

  it('servers built one after another over the same workers (the experiment): state released at the drain limit, request numbers reused safely; closing settles everything', async () => {
    const cfg = defaultConfig({ model: 'test/fixtures/tiny-pipelines/flux', resolutions: [32], sharedAdapter: true, txtTokens: 32, port: 0, logLevel: 'silent', resultDir: mkdtempSync(join(tmpdir(), 'reuse-')) });
    const pool = (await openPool(cfg)) as ThreadPool;
    try {
      const profile = measuredProfile(cfg, pool.measured, 'lavapipe');
      // Server 1: its only request (number 1) runs a few steps, then the drain limit fails it.
      const a = await assembleServer({ ...cfg, drainSeconds: 0.2 }, pool, profile, { listen: false });
      const ja = a.core.submit({ params: { prompt: 'first server', negativePrompt: '', resolution: 32, steps: 40, guidance: 3.5, seed: 1, strength: 1 }, format: 'png', sloScale: 100 });
      await new Promise<void>((r) => ja.on('step', (st) => st.step === 1 && r()));
      const closed = await a.close();
      expect(closed.failed).toBe(1);
      expect(ja.state).toBe('failed');
      expect(ja.num).toBe(1);
      expect(await pool.heldRequests()).toBe(0);
      // Server 2 over the same workers numbers its requests from 1 again: a fresh request, not the old one's state.
      const b = await assembleServer(cfg, pool, profile, { listen: false });
      const jb = b.core.submit({ params: { prompt: 'second server', negativePrompt: '', resolution: 32, steps: 3, guidance: 3.5, seed: 2, strength: 1 }, format: 'png', sloScale: 100 });
      expect(jb.num).toBe(1);
      await b.driver.idle();
      expect(jb.state, jb.error ?? '').toBe('done');
      expect(jb.progress.stepsDone).toBe(3);
      await b.close();
    } finally {
      await pool.close();
    }
    // Closed: no worker takes work, and a run asked for now fails at once instead of waiting on the ended thread.
    expect(pool.workers.every((w) => !w.alive)).toBe(true);
    const out = await pool.workers[0].run({ requestId: 9, jobId: 'gen_after_close', params: { prompt: 'x', negativePrompt: '', resolution: 32, steps: 2, guidance: 3.5, seed: 1, strength: 1 }, totalSteps: 2, progress: { text: null, state: null, stepsDone: 0 }, steps: 2, shouldStop: () => false, onStage: () => undefined });
    expect(out.error?.message).toMatch(/not alive/);
  });

  it('a crash of the engine thread loses every GPU: running and queued work fails with the reason, readyz and new work say 503', async () => {
    const s = await server({ gpus: 2 });
    const pool = s.pool as ThreadPool;
    // Three long requests on two GPUs: two run, one waits.
    const jobs: Job[] = [];
    for (let i = 0; i < 3; i++) jobs.push(s.core.job((await post(s, { prompt: `doomed ${i}`, size: '32x32', steps: 40, slo_scale: 100 })).id)!);
    await new Promise<void>((res) => jobs[0].on('step', (st) => st.step === 1 && res()));
    pool.crashForTest('simulated engine bug');
    await s.core.driver.idle();
    for (const job of jobs) {
      expect(job.state).toBe('failed');
      expect(job.error).toMatch(/engine thread stopped: Error: test: simulated engine bug/);
    }
    const ready = await s.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().gpus.map((g: any) => g.lost_reason)).toEqual([expect.stringMatching(/engine thread stopped/), expect.stringMatching(/engine thread stopped/)]);
    const refused = await s.app.inject({ method: 'POST', url: '/v1/generations', payload: { prompt: 'after', size: '32x32' } });
    expect(refused.statusCode).toBe(503);
  });

  it('a bad checkpoint fails start-up on the thread with the same error code as in-process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bad-ckpt-'));
    const file = join(dir, 'model.safetensors');
    writeFileSync(file, Buffer.from('this is not a safetensors file'));
    for (const engineThread of [true, false]) {
      const e = await tinyServer({ model: file, engineThread }).then(
        (s) => { servers.push(s); return null; },
        (err: unknown) => err as Error,
      );
      expect(e, `engineThread ${engineThread}`).toBeInstanceOf(Error);
      expect(errorCodeOf(e)).toBe('BAD_FILE');
      expect(e!.message).toContain('model.safetensors');
      const missing = await tinyServer({ model: join(dir, 'nope'), engineThread }).catch((err: unknown) => err as Error);
      expect(errorCodeOf(missing)).toBe('BAD_FILE');
      expect((missing as Error).message).toMatch(/--model .*nope: no such file or folder; give a model folder/);
    }
  });

  it('selects GPUs on the engine thread through the device-select layer (its environment reaches the Vulkan loader)', async () => {
    // openGpu sets VK_INSTANCE_LAYERS and TETRISERVE_VK_DEVICE for the loader and the layer, which read them with
    // getenv(). Lavapipe has one adapter, so GPU 1 must be refused; had the thread's environment stayed private
    // to JavaScript, the layer would not load and GPU 1 would silently open the first adapter again.
    for (const engineThread of [true, false]) {
      const e = await tinyServer({ gpus: 2, sharedAdapter: false, engineThread }).then(
        (s) => { servers.push(s); return null; },
        (err: unknown) => err as Error,
      );
      expect(e?.message, `engineThread ${engineThread}`).toMatch(/^GPU 1: .*no Vulkan adapter/s);
      expect(errorCodeOf(e), `engineThread ${engineThread}`).toBe('NO_ADAPTER');
    }
  });

  it('refuses a missing or stale build of the thread script, naming the fix', () => {
    const root = mkdtempSync(join(tmpdir(), 'stale-build-'));
    mkdirSync(join(root, 'src', 'serve'), { recursive: true });
    writeFileSync(join(root, 'src', 'serve', 'a.ts'), 'export {};\n');
    expect(() => compiledEngineHost(root)).toThrow(/missing: run `npm run build`/);
    mkdirSync(join(root, 'dist', 'serve'), { recursive: true });
    const entry = join(root, 'dist', 'serve', 'engine-host.js');
    writeFileSync(entry, 'export {};\n');
    const old = new Date(Date.now() - 60_000);
    utimesSync(entry, old, old);
    expect(() => compiledEngineHost(root)).toThrow(/older than src\/serve\/a\.ts: run `npm run build`/);
    const now = new Date();
    utimesSync(entry, now, now);
    expect(compiledEngineHost(root).pathname).toBe(entry);
  });
});
