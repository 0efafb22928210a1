// The HTTP layer: Fastify routes over ServeCore. Every route has a JSON schema; errors use one shape,
// {error: {message, type, param, code}}, and `param` names the offending field.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import fastifyStatic from '@fastify/static';
import sharp from 'sharp';
import { AdmissionError, type ServeCore } from './core.js';
import type { GenerationParams } from './engine.js';
import type { Job, OutputFormat } from './jobs.js';
import { MIME, encodeImage } from './results.js';
import { schemas } from './schemas.js';

/** A 4xx the routes raise for checks JSON schema cannot express (sizes, images). */
export class FieldError extends Error {
  constructor(readonly param: string, message: string, readonly status = 400) {
    super(message);
  }
}

// The dashboard's static files live in src/serve/dashboard/; tsc does not copy them to dist/, so the compiled
// server (dist/serve/app.js, what `dit serve` runs) serves them from the source tree.
const DASHBOARD_DIR = [new URL('./dashboard/', import.meta.url), new URL('../../src/serve/dashboard/', import.meta.url)].map((u) => fileURLToPath(u)).find((d) => existsSync(d)) ?? fileURLToPath(new URL('./dashboard/', import.meta.url));

function parseSize(size: string | undefined, served: readonly number[], dflt: number): number {
  if (size === undefined) return dflt;
  const m = /^(\d+)x(\d+)$/.exec(size);
  if (!m) throw new FieldError('size', `size "${size}" must look like 512x512`);
  const w = Number(m[1]);
  const h = Number(m[2]);
  if (w % 16 || h % 16) throw new FieldError('size', `size ${size}: width and height must be multiples of 16`);
  if (w !== h) throw new FieldError('size', `size ${size}: only square images are served (e.g. ${served[0]}x${served[0]})`);
  if (!served.includes(w)) throw new FieldError('size', `size ${size} is not served here; use one of ${served.map((r) => `${r}x${r}`).join(', ')}`);
  return w;
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes a base64 input image to planar RGB in [0, 1] at the request's resolution (cover-cropped). */
async function decodeInputImage(b64: string, resolution: number): Promise<Float32Array> {
  const body = b64.startsWith('data:') ? b64.slice(b64.indexOf(',') + 1) : b64;
  if (body.length % 4 !== 0 || !B64.test(body)) throw new FieldError('image', 'image is not valid base64 (A-Z, a-z, 0-9, +, / with = padding; length a multiple of 4)');
  const buf = Buffer.from(body, 'base64');
  let raw: Buffer;
  try {
    raw = await sharp(buf, { limitInputPixels: 64 * 1024 * 1024 }).removeAlpha().resize(resolution, resolution, { fit: 'cover' }).toColourspace('srgb').raw().toBuffer();
  } catch (e) {
    throw new FieldError('image', `image could not be decoded as PNG, JPEG or WebP: ${(e as Error).message}`);
  }
  const n = resolution * resolution;
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[c * n + i] = raw[i * 3 + c] / 255;
  return out;
}

function errorReply(reply: FastifyReply, status: number, message: string, param: string | null, code: string | null): FastifyReply {
  const type = status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
  return reply.code(status).send({ error: { message, type, param, code } });
}

/** Turns Ajv's first error into a sentence that names the field. */
function validationMessage(err: FastifyError): { message: string; param: string } {
  const v = err.validation![0];
  const ctx = err.validationContext ?? 'body';
  const path = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const params = v.params as Record<string, unknown>;
  if (v.keyword === 'additionalProperties') {
    const f = [path, String(params.additionalProperty)].filter(Boolean).join('.');
    return { param: f, message: `${ctx}.${f}: unknown field (not part of this API; check the spelling)` };
  }
  if (v.keyword === 'required') {
    const f = [path, String(params.missingProperty)].filter(Boolean).join('.');
    return { param: f, message: `${ctx}.${f} is required` };
  }
  const f = path || ctx;
  return { param: f, message: `${path ? `${ctx}.${path}` : ctx} ${v.message}` };
}

function statusView(core: ServeCore, job: Job, base: string) {
  const runs: { from_step: number; to_step: number; degree: number; gpus: readonly number[] }[] = [];
  for (const s of job.stepLog) {
    const last = runs[runs.length - 1];
    if (last && last.to_step === s.step - 1 && last.gpus.join() === s.gpus.join()) last.to_step = s.step;
    else runs.push({ from_step: s.step, to_step: s.step, degree: s.gpus.length, gpus: s.gpus });
  }
  const eta = core.etaSeconds(job);
  return {
    id: job.id,
    object: 'generation',
    state: job.state,
    created_at: core.iso(job.arrival),
    size: `${job.params.resolution}x${job.params.resolution}`,
    steps: job.params.steps,
    steps_done: job.progress.stepsDone + job.firstStep,
    queue_position: core.queuePosition(job),
    steps_by_group: runs,
    eta_seconds: eta,
    deadline_at: core.iso(job.deadline),
    deadline_seconds: job.deadline - job.arrival,
    best_effort: job.bestEffort,
    deadline_met: job.met,
    finished_at: job.finishedAt === null ? null : core.iso(job.finishedAt),
    latency_seconds: job.finishedAt === null ? null : job.finishedAt - job.arrival,
    error: job.error,
    error_param: job.errorParam,
    status_url: `${base}/v1/generations/${job.id}`,
    events_url: `${base}/v1/generations/${job.id}/events`,
    image_url: job.state === 'done' ? `${base}/v1/generations/${job.id}/image` : null,
  };
}

function waitFinished(job: Job): Promise<void> {
  if (job.finished) return Promise.resolve();
  return new Promise((resolve) => {
    const on = (): void => {
      if (job.finished) {
        job.off('state', on);
        resolve();
      }
    };
    job.on('state', on);
  });
}

export async function buildApp(core: ServeCore): Promise<FastifyInstance> {
  const cfg = core.config;
  /** Absolute URLs in responses: the configured public URL, else the address the client used. */
  const baseOf = (req: FastifyRequest): string => cfg.publicUrl ?? `${req.protocol}://${req.headers.host ?? `${cfg.host}:${cfg.port}`}`;
  const app = Fastify({
    logger: { level: cfg.logLevel },
    bodyLimit: cfg.bodyLimitBytes,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
    return503OnClosing: true,
  });
  const sc = schemas({ resolutions: cfg.resolutions, maxSteps: cfg.maxSteps, maxPromptChars: cfg.maxPromptChars });

  // JSON only: Fastify also parses text/plain by default, which would turn a wrong content type into a confusing
  // "body must be object".
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof FieldError) return errorReply(reply, err.status, err.message, err.param, 'invalid_field');
    if (err instanceof AdmissionError) {
      if (err.status !== 400) reply.header('Retry-After', String(err.retryAfterSeconds));
      return errorReply(reply, err.status, err.message, err.param, err.code);
    }
    if (err.validation) {
      const { message, param } = validationMessage(err);
      return errorReply(reply, 400, message, param, 'invalid_field');
    }
    const code = err.code ?? '';
    if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return errorReply(reply, 415, `content-type "${req.headers['content-type'] ?? ''}" is not supported: send application/json`, 'content-type', code);
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return errorReply(reply, 413, `body is larger than the ${cfg.bodyLimitBytes}-byte limit`, 'body', code);
    if (code === 'FST_ERR_CTP_INVALID_JSON_BODY' || code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err instanceof SyntaxError) {
      return errorReply(reply, 400, `body is not valid JSON (${err.message})`, 'body', 'invalid_json');
    }
    if (code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') return errorReply(reply, 400, 'body length does not match content-length (truncated body?)', 'body', code);
    if (err.statusCode === 429) return errorReply(reply, 429, err.message, null, 'rate_limited');
    if (err.statusCode && err.statusCode < 500) return errorReply(reply, err.statusCode, err.message, null, code || null);
    req.log.error(err);
    return errorReply(reply, 500, `internal error: ${err.message}`, null, null);
  });
  app.setNotFoundHandler((req, reply) => errorReply(reply, 404, `no route ${req.method} ${req.url}`, null, 'not_found'));

  await app.register(swagger, {
    openapi: {
      info: { title: 'tetriserve-ts', description: 'Diffusion Transformer serving under per-request deadlines (TetriServe round scheduler)', version: '0.1.0' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(rateLimit, {
    global: false,
    keyGenerator: (req) => bearer(req) ?? req.ip,
    errorResponseBuilder: (_req, ctx) => ({ statusCode: 429, code: 'rate_limited', message: `rate limit: ${ctx.max} generation requests per ${ctx.after} per key; retry after ${Math.ceil(ctx.ttl / 1000)} s` }),
  });
  await app.register(fastifyStatic, { root: DASHBOARD_DIR, prefix: '/dashboard/', index: 'index.html' });

  // Optional API keys on /v1/*.
  const keys = new Set(cfg.apiKeys);
  app.addHook('onRequest', async (req, reply) => {
    // The dashboard's live view carries no ids or images, so it stays open like /metrics.
    if (keys.size === 0 || !req.url.startsWith('/v1/') || req.url.startsWith('/v1/dashboard/')) return;
    const k = bearer(req);
    if (!k || !keys.has(k)) return errorReply(reply, 401, 'missing or unknown API key: send "Authorization: Bearer <key>"', 'authorization', 'unauthorized');
  });

  const limit = { rateLimit: { max: cfg.rateLimitPerMinute, timeWindow: 60_000 } };

  const params = async (b: Record<string, unknown>): Promise<GenerationParams> => {
    const resolution = parseSize(b.size as string | undefined, cfg.resolutions, cfg.resolutions[0]);
    const steps = (b.steps as number | undefined) ?? cfg.defaultSteps;
    const strength = (b.strength as number | undefined) ?? 0.8;
    if (b.strength !== undefined && b.image === undefined) throw new FieldError('strength', 'strength applies to image-to-image only: send image too, or drop strength');
    if (b.image !== undefined && Math.trunc(steps * strength) < 1) throw new FieldError('strength', `strength ${strength} with ${steps} steps leaves no step to run; raise strength or steps`);
    const deadlines = ['deadline_ms', 'deadline_at', 'slo_scale'].filter((k) => b[k] !== undefined);
    if (deadlines.length > 1) throw new FieldError(deadlines[0], `give one of deadline_ms, deadline_at and slo_scale, not ${deadlines.join(' and ')}`);
    if (b.deadline_at !== undefined && !Number.isFinite(Date.parse(b.deadline_at as string))) throw new FieldError('deadline_at', `deadline_at "${String(b.deadline_at)}" is not an ISO 8601 time (e.g. 2026-11-30T12:00:00.000Z)`);
    const prompt = b.prompt as string;
    const negativePrompt = (b.negative_prompt as string | undefined) ?? '';
    const guidance = (b.guidance as number | undefined) ?? cfg.defaultGuidance;
    // Over the text encoders' token budget: refused here with the tokenizers, not later on a worker.
    const problem = await core.checkPrompt({ prompt, negativePrompt, guidance });
    if (problem) throw new FieldError(problem.param, problem.message);
    return {
      prompt,
      negativePrompt,
      resolution,
      steps,
      guidance,
      seed: (b.seed as number | undefined) ?? Math.floor(Math.random() * 2 ** 32),
      initImage: b.image !== undefined ? await decodeInputImage(b.image as string, resolution) : undefined,
      strength,
    };
  };

  app.post('/v1/images/generations', { schema: { ...sc.openai, tags: ['generation'] }, config: limit }, async (req, reply) => {
    const b = req.body as Record<string, unknown>;
    const p = await params(b);
    const n = (b.n as number | undefined) ?? 1;
    const jobs = [];
    for (let i = 0; i < n; i++) jobs.push(core.submit({ params: { ...p, seed: (p.seed + i) >>> 0 }, format: 'png' }));
    await Promise.all(jobs.map(waitFinished));
    const failed = jobs.find((j) => j.state !== 'done');
    if (failed?.errorParam) return errorReply(reply, 400, `${failed.errorParam}: ${failed.error}`, failed.errorParam, 'invalid_field');
    if (failed) return errorReply(reply, failed.state === 'cancelled' ? 409 : 500, `generation ${failed.id} ${failed.state}: ${failed.error ?? ''}`.trim(), null, failed.state);
    const data = await Promise.all(jobs.map(async (j) => (b.response_format === 'url' ? { url: `${baseOf(req)}/v1/generations/${j.id}/image` } : { b64_json: (await readFile(j.resultPath!)).toString('base64') })));
    return { created: Math.floor(Date.now() / 1000), data };
  });

  app.post('/v1/generations', { schema: { ...sc.native, tags: ['generation'] }, config: limit }, async (req, reply) => {
    const b = req.body as Record<string, unknown>;
    const p = await params(b);
    const job = core.submit({
      params: p,
      format: (b.output_format as OutputFormat | undefined) ?? 'png',
      deadlineSeconds: b.deadline_ms !== undefined ? (b.deadline_ms as number) / 1000 : undefined,
      deadlineAtMs: b.deadline_at !== undefined ? Date.parse(b.deadline_at as string) : undefined,
      sloScale: b.slo_scale as number | undefined,
    });
    if (b.wait === true) {
      await waitFinished(job);
      return reply.code(200).send(statusView(core, job, baseOf(req)));
    }
    return reply.code(202).header('Location', `/v1/generations/${job.id}`).send(statusView(core, job, baseOf(req)));
  });

  const find = (req: FastifyRequest): Job => {
    const id = (req.params as { id: string }).id;
    const job = core.job(id);
    if (!job) throw new FieldError('id', `no generation with id ${id} (unknown, or forgotten after the retention limit)`, 404);
    return job;
  };

  app.get('/v1/generations/:id', { schema: { ...sc.status, tags: ['generation'] } }, async (req) => statusView(core, find(req), baseOf(req)));

  app.delete('/v1/generations/:id', { schema: { ...sc.cancel, tags: ['generation'] } }, async (req, reply) => {
    const job = find(req);
    if (!core.cancel(job)) return errorReply(reply, 409, `generation ${job.id} already ${job.state}`, 'id', 'already_finished');
    return statusView(core, job, baseOf(req));
  });

  app.get('/v1/generations/:id/image', { schema: { ...sc.image, tags: ['generation'] } }, async (req, reply) => {
    const job = find(req);
    if (job.state !== 'done') return errorReply(reply, 409, `generation ${job.id} is ${job.state}; the image exists once it is done`, 'id', 'not_done');
    try {
      const bytes = await readFile(job.resultPath!);
      return reply.type(MIME[job.format]).send(bytes);
    } catch {
      return errorReply(reply, 410, `the image of ${job.id} was removed by the retention limit`, 'id', 'expired');
    }
  });

  app.get('/v1/generations/:id/events', { schema: { ...sc.events, tags: ['generation'] } }, async (req, reply) => {
    const job = find(req);
    const q = req.query as { previews?: string };
    const previews = q.previews === '1' || q.previews === 'true';
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const send = (event: string, data: unknown): void => {
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    let closed = false;
    const onStep = async (s: { step: number; gpus: readonly number[]; start: number; end: number; latents: Float32Array }): Promise<void> => {
      const ev: Record<string, unknown> = { step: s.step + job.firstStep + 1, steps: job.params.steps, degree: s.gpus.length, gpus: s.gpus, seconds: s.end - s.start };
      if (previews) ev.preview_png_b64 = (await encodeImage(await core.previewer(job.params, s.latents), 'png')).toString('base64');
      if (!closed) send('step', ev);
    };
    const finish = (): void => {
      if (closed) return;
      closed = true;
      job.off('step', onStep);
      job.off('state', onState);
      clearInterval(beat);
      res.end();
    };
    const onState = (s: string): void => {
      send('state', { state: s });
      if (job.finished) {
        send('done', statusView(core, job, baseOf(req)));
        finish();
      }
    };
    const beat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    req.raw.on('close', finish);
    send('state', { state: job.state, steps_done: job.progress.stepsDone + job.firstStep, steps: job.params.steps });
    if (job.finished) {
      send('done', statusView(core, job, baseOf(req)));
      finish();
      return;
    }
    job.on('step', onStep);
    job.on('state', onState);
  });

  app.get('/healthz', { schema: { summary: 'The process is up', tags: ['ops'] } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { summary: 'Ready to accept work: at least one GPU alive and not shutting down', tags: ['ops'] } }, async (_req, reply) => {
    const alive = new Set(core.driver.aliveGpus);
    const gpus = core.driver.workers.map((w) => ({ gpu: w.gpu, alive: alive.has(w.gpu), lost_reason: w.lostReason }));
    const body = { ready: core.ready, draining: core.draining, gpus, alive_gpus: alive.size, queue: core.driver.unfinishedJobs.length };
    return reply.code(core.ready ? 200 : 503).send(body);
  });

  app.get('/metrics', { schema: { summary: 'Prometheus metrics', tags: ['ops'] } }, async (_req, reply) => {
    reply.type(core.metrics.registry.contentType);
    return core.metrics.registry.metrics();
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get('/dashboard', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/dashboard/'));

  app.get('/v1/dashboard/state', { schema: { summary: 'Live view for the dashboard: GPUs x time, queue, SLO attainment', tags: ['ops'] } }, async () => {
    const now = core.driver.clock();
    const window = 60;
    const alive = new Set(core.driver.aliveGpus);
    const { met, finished } = core.metrics.attainment;
    return {
      now,
      window,
      policy: core.driver.scheduler.name,
      round_seconds: core.driver.scheduler.roundSeconds,
      gpus: core.driver.workers.map((w) => ({ gpu: w.gpu, alive: alive.has(w.gpu), busy_seconds: w.busySeconds })),
      assignments: core.driver.history.filter((a) => (a.end ?? now) >= now - window).map((a) => ({ ...a, end: a.end ?? now, running: a.end === null })),
      rounds: core.driver.roundStarts.filter((t) => t >= now - window),
      queue: core.driver.unfinishedJobs.map((j) => ({ num: j.num, state: j.state, size: j.params.resolution, steps_done: j.progress.stepsDone, steps: j.totalSteps, deadline_in: j.deadline - now })),
      slo: { met, finished, attainment: finished ? met / finished : null },
    };
  });

  return app;
}

function bearer(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m ? m[1] : null;
}
