// End to end on the tiny FLUX checkpoint: requests in through both endpoints, PNGs out, SSE progress, status,
// cancel, image-to-image; every denoising step runs the real transformer on the (lavapipe) GPU.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import type { RunningServer } from '../../src/serve/server.js';
import { PNG_MAGIC, readSse, tinyServer } from './helpers.js';

let s: RunningServer;
let url: string;

beforeAll(async () => {
  s = await tinyServer({ gpus: 2 });
  url = s.url!;
});
afterAll(async () => {
  await s?.close();
});

const post = (path: string, body: unknown) => fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('serve end to end (tiny FLUX, real GPU steps)', () => {
  it('OpenAI endpoint returns b64 PNGs (n=2) and url responses', async () => {
    const r = await post('/v1/images/generations', { prompt: 'a red fox', n: 2, size: '32x32' });
    expect(r.status).toBe(200);
    const j = (await r.json()) as any;
    expect(j.data).toHaveLength(2);
    const png = Buffer.from(j.data[0].b64_json, 'base64');
    expect(png.subarray(0, 8)).toEqual(PNG_MAGIC);
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height]).toEqual([32, 32]);
    // Different seeds per image: different pixels.
    expect(j.data[0].b64_json).not.toBe(j.data[1].b64_json);
    const u: any = await (await post('/v1/images/generations', { prompt: 'a fox', size: '64x64', response_format: 'url' })).json();
    const img = await fetch(u.data[0].url);
    expect(img.status).toBe(200);
    expect(img.headers.get('content-type')).toBe('image/png');
    expect((await sharp(Buffer.from(await img.arrayBuffer())).metadata()).width).toBe(64);
  });

  it('native endpoint: 202, SSE steps with degree and previews, status, image; same seed gives the same image', async () => {
    const r = await post('/v1/generations', { prompt: 'a lighthouse', size: '64x64', steps: 5, seed: 42, slo_scale: 50 });
    expect(r.status).toBe(202);
    const j = (await r.json()) as any;
    expect(j.id).toMatch(/^gen_/);
    expect(r.headers.get('location')).toBe(`/v1/generations/${j.id}`);
    const events = await readSse(`${j.events_url}?previews=1`);
    const steps = events.filter((e) => e.event === 'step');
    expect(steps.length).toBeGreaterThan(0);
    for (const e of steps) {
      expect(e.data.degree).toBe(1);
      expect(e.data.gpus).toHaveLength(1);
      expect(Buffer.from(e.data.preview_png_b64, 'base64').subarray(0, 8)).toEqual(PNG_MAGIC);
    }
    expect(steps.at(-1)!.data.step).toBe(5);
    const done = events.at(-1)!;
    expect(done.event).toBe('done');
    expect(done.data.state).toBe('done');
    const st: any = await (await fetch(j.status_url)).json();
    expect(st.state).toBe('done');
    expect(st.steps_done).toBe(5);
    expect(st.deadline_met).toBe(true);
    expect(st.steps_by_group.reduce((n: number, g: any) => n + g.to_step - g.from_step + 1, 0)).toBe(5);
    const a = Buffer.from(await (await fetch(st.image_url)).arrayBuffer());
    const w: any = await (await post('/v1/generations', { prompt: 'a lighthouse', size: '64x64', steps: 5, seed: 42, wait: true })).json();
    expect(w.state).toBe('done');
    const b = Buffer.from(await (await fetch(w.image_url)).arrayBuffer());
    expect(b.equals(a)).toBe(true);
  });

  it('image-to-image: runs only the last strength x steps', async () => {
    const src = await sharp({ create: { width: 20, height: 15, channels: 3, background: { r: 200, g: 30, b: 30 } } }).png().toBuffer();
    const r = await post('/v1/generations', { prompt: 'red', size: '32x32', steps: 8, image: src.toString('base64'), strength: 0.5, wait: true, output_format: 'webp' });
    const j = (await r.json()) as any;
    expect(j.state).toBe('done');
    expect(j.steps_by_group.reduce((n: number, g: any) => n + g.to_step - g.from_step + 1, 0)).toBe(4);
    const img = await fetch(j.image_url);
    expect(img.headers.get('content-type')).toBe('image/webp');
  });

  it('cancel: a queued request is cancelled, its events end, and the server keeps serving', async () => {
    const many = await Promise.all(Array.from({ length: 4 }, () => post('/v1/generations', { prompt: 'x', size: '64x64', steps: 20 }).then((r) => r.json() as Promise<any>)));
    const last = many.at(-1)!;
    const del = await fetch(`${url}/v1/generations/${last.id}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect(((await del.json()) as any).state).toBe('cancelled');
    const again = await fetch(`${url}/v1/generations/${last.id}`, { method: 'DELETE' });
    expect(again.status).toBe(409);
    for (const m of many.slice(0, -1)) await fetch(`${url}/v1/generations/${m.id}`, { method: 'DELETE' });
    const ok: any = await (await post('/v1/generations', { prompt: 'after cancel', size: '32x32', steps: 2, wait: true })).json();
    expect(ok.state).toBe('done');
    await s.core.driver.idle();
  });

  it('a prompt over the token budget is refused at admission: 400 naming prompt on both endpoints, nothing queued', async () => {
    const long = Array.from({ length: 120 }, (_, i) => `word${i}`).join(' ');
    const before = s.core.jobs().length;
    const r = await post('/v1/images/generations', { prompt: long, size: '32x32' });
    expect(r.status).toBe(400);
    const e: any = await r.json();
    expect(e.error.param).toBe('prompt');
    expect(e.error.message).toMatch(/prompt is \d+ tokens too long for (CLIP|T5) \(\d+ tokens with special tokens\)/);
    const n = await post('/v1/generations', { prompt: long, size: '32x32', wait: true });
    expect(n.status).toBe(400);
    expect(((await n.json()) as any).error.param).toBe('prompt');
    expect(s.core.jobs().length).toBe(before);
    // Just inside the T5 budget (txtTokens 32) is admitted and runs.
    const ok: any = await (await post('/v1/generations', { prompt: 'a small red house by the sea', size: '32x32', steps: 2, wait: true })).json();
    expect(ok.state).toBe('done');
    await s.core.driver.idle();
  });

  it('ops endpoints: healthz, readyz, metrics, OpenAPI', async () => {
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const ready: any = await (await fetch(`${url}/readyz`)).json();
    expect(ready.ready).toBe(true);
    expect(ready.alive_gpus).toBe(2);
    const m = await (await fetch(`${url}/metrics`)).text();
    for (const name of ['tetriserve_queue_depth', 'tetriserve_slo_attainment', 'tetriserve_step_seconds_bucket{le="0.5",resolution="64",degree="1"}', 'tetriserve_gpu_busy_seconds{gpu="1"}', 'tetriserve_scheduler_decision_seconds_count', 'tetriserve_gpu_alive{gpu="0"} 1']) {
      expect(m).toContain(name);
    }
    const api: any = await (await fetch(`${url}/openapi.json`)).json();
    expect(Object.keys(api.paths)).toEqual(expect.arrayContaining(['/v1/images/generations', '/v1/generations', '/v1/generations/{id}', '/v1/generations/{id}/events']));
  });
});
