// Faults and shutdown. A worker whose device dies mid-request is removed, the request finishes on the other
// worker from the last completed step, and the server keeps serving (readyz, metrics show it). Shutdown drains:
// no new work, admitted work finishes; past the drain limit what is left fails with a clear error.
import { afterAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/serve/server.js';
import { tinyServer } from './helpers.js';

const servers: RunningServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

const post = async (s: RunningServer, body: unknown) => {
  const r = await s.app.inject({ method: 'POST', url: '/v1/generations', payload: body as object });
  return { status: r.statusCode, body: r.json(), headers: r.headers };
};

describe('GPU failure', () => {
  it('kill the worker running a request: it finishes on the other GPU; readyz and metrics show the loss', async () => {
    const s = await tinyServer({ gpus: 2, resolutions: [32] });
    servers.push(s);
    const { body: j } = await post(s, { prompt: 'survive', size: '32x32', steps: 24, slo_scale: 100 });
    const job = s.core.job(j.id)!;
    // Wait until a few steps have run, then kill the GPU it runs on.
    const victim = await new Promise<number>((resolve) => {
      job.on('step', (st) => {
        if (st.step === 3) resolve(st.gpus[0]);
      });
    });
    s.workers[victim].kill('test: simulated device loss');
    const events: string[] = [];
    await new Promise<void>((resolve) => {
      job.on('state', (st) => {
        events.push(st);
        if (job.finished) resolve();
      });
    });
    expect(job.state).toBe('done');
    expect(job.progress.stepsDone).toBe(24);
    const used = new Set(job.stepLog.map((r) => r.gpus[0]));
    expect(used.has(1 - victim)).toBe(true);
    // Steps are recorded once each: nothing ran twice, nothing was skipped.
    expect(job.stepLog.map((r) => r.step)).toEqual(Array.from({ length: 24 }, (_, i) => i));
    const ready = await s.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    const rj = ready.json();
    expect(rj.alive_gpus).toBe(1);
    expect(rj.gpus[victim].alive).toBe(false);
    expect(rj.gpus[victim].lost_reason).toContain('simulated device loss');
    const m = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(m).toContain(`tetriserve_gpu_alive{gpu="${victim}"} 0`);
    // Still serving.
    const after = await post(s, { prompt: 'after', size: '32x32', steps: 2, wait: true });
    expect(after.body.state).toBe('done');
    expect(after.body.steps_by_group[0].gpus).toEqual([1 - victim]);
    // The last GPU gone: not ready, new work refused with 503.
    s.workers[1 - victim].kill('test: second loss');
    await new Promise((r) => setTimeout(r, 50));
    expect((await s.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    const refused = await post(s, { prompt: 'no gpu', size: '32x32', steps: 2 });
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBeDefined();
  });
});

describe('graceful shutdown', () => {
  it('drains: refuses new work, finishes admitted work, then stops', async () => {
    const s = await tinyServer({ gpus: 1, resolutions: [32], drainSeconds: 300 });
    servers.push(s);
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await post(s, { prompt: `drain ${i}`, size: '32x32', steps: 4 })).body.id);
    const closing = s.close();
    expect((await s.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    const refused = await post(s, { prompt: 'too late', size: '32x32', steps: 2 });
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('shutting_down');
    const r = await closing;
    expect(r.drained).toBe(true);
    for (const id of ids) expect(s.core.job(id)!.state, s.core.job(id)!.error ?? '').toBe('done');
  });

  it('past the drain limit, unfinished work fails with a clear error', async () => {
    const s = await tinyServer({ gpus: 1, resolutions: [32], drainSeconds: 0.3 });
    servers.push(s);
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await post(s, { prompt: `cut ${i}`, size: '32x32', steps: 30 })).body.id);
    const r = await s.close();
    expect(r.drained).toBe(false);
    const states = ids.map((id) => s.core.job(id)!);
    expect(states.some((j) => j.state === 'failed')).toBe(true);
    for (const j of states) {
      expect(j.finished).toBe(true);
      if (j.state === 'failed') expect(j.error).toContain('shut down');
    }
  });
});
