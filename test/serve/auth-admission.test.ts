// API keys, per-key rate limits, admission control (reject mode, and best effort) and the results store's
// retention limit.
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResultStore } from '../../src/serve/results.js';
import type { RunningServer } from '../../src/serve/server.js';
import { tinyServer } from './helpers.js';

let s: RunningServer;

beforeAll(async () => {
  s = await tinyServer({ resolutions: [32], apiKeys: ['key-a', 'key-b'], rateLimitPerMinute: 3, admission: 'reject' });
});
afterAll(async () => {
  await s?.close();
});

const gen = (key: string | null, body: object = { prompt: 'a', size: '32x32', steps: 1, slo_scale: 50 }) =>
  s.app.inject({ method: 'POST', url: '/v1/generations', headers: key ? { authorization: `Bearer ${key}` } : {}, payload: body });

describe('API keys and rate limits', () => {
  it('refuses a missing or unknown key with 401 naming authorization; ops routes stay open', async () => {
    for (const key of [null, 'nope']) {
      const r = await gen(key);
      expect(r.statusCode).toBe(401);
      expect(r.json().error.param).toBe('authorization');
    }
    expect((await s.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await s.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
  });

  it('limits generation requests per key (429 with Retry-After), independently for each key', async () => {
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await gen('key-a')).statusCode);
    expect(codes.slice(0, 3)).toEqual([202, 202, 202]);
    const limited = await gen('key-a');
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await gen('key-b')).statusCode).toBe(202);
    // Status reads are not rate limited.
    expect((await s.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    await s.core.driver.idle();
  });
});

describe('admission control', () => {
  it('reject mode: a deadline no schedule can meet gets 503 deadline_infeasible with the reason', async () => {
    const r = await gen('key-b', { prompt: 'too fast', size: '32x32', steps: 50, deadline_ms: 1 });
    expect(r.statusCode).toBe(503);
    expect(r.json().error.code).toBe('deadline_infeasible');
    expect(r.json().error.message).toMatch(/deadline cannot be met/);
    expect(r.headers['retry-after']).toBeDefined();
    const m = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(m).toContain('tetriserve_requests_rejected_total{reason="deadline_infeasible"} 1');
  });

  it('best-effort mode admits it, flagged, and it still completes', async () => {
    const be = await tinyServer({ resolutions: [32] });
    try {
      const r = await be.app.inject({ method: 'POST', url: '/v1/generations', payload: { prompt: 'late', size: '32x32', steps: 2, deadline_ms: 1, wait: true } });
      const j = r.json();
      expect(j.best_effort).toBe(true);
      expect(j.state).toBe('done');
      expect(j.deadline_met).toBe(false);
    } finally {
      await be.close();
    }
  });
});

describe('results retention', () => {
  it('keeps at most maxFiles images, oldest removed first, and none older than maxAgeSeconds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'retention-'));
    const store = new ResultStore(dir, { maxFiles: 2, maxAgeSeconds: 3600 });
    await store.init();
    const img = { width: 2, height: 2, data: new Uint8Array(12).fill(200) };
    for (const id of ['gen_a', 'gen_b', 'gen_c']) {
      await store.save(id, 'png', img);
      await new Promise((r) => setTimeout(r, 20));
    }
    await store.prune();
    expect(readdirSync(dir).sort()).toEqual(['gen_b.png', 'gen_c.png']);
    const old = new ResultStore(dir, { maxFiles: 10, maxAgeSeconds: 0 });
    await old.prune();
    expect(readdirSync(dir)).toEqual([]);
  });
});
