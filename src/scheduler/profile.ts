// Latency profile: per-step latency T(resolution, degree) and the cost of moving a request between GPU groups.
// The JSON format is documented in docs/scheduler.md ("Latency profile format"); `dit bench model` writes the
// same format from our own engine, the shipped profiles/flux1-dev-h100.json comes from published figures.

export const PROFILE_FORMAT = 'tetriserve-latency-profile/1';

export interface ProfileEntry {
  /** Square side in pixels. */
  readonly resolution: number;
  /** Seconds per denoising step, keyed by parallel degree ("1", "2", "4", "8"). */
  readonly stepSeconds: Readonly<Record<string, number>>;
  /** Seconds added before the first step when a request starts on a group other than its previous one. */
  readonly groupChangeSeconds: number;
  /** Where each number comes from (free text per degree, plus "groupChange"); required so derived numbers are marked. */
  readonly provenance?: Readonly<Record<string, string>>;
  /**
   * Optional batched latencies: seconds per step of a batch of b same-resolution requests run together, keyed
   * by batch size (>= 2) and then by degree, e.g. {"2": {"1": 0.041, "2": 0.031}, "4": {...}}. Degrees may be a
   * subset of the profile's. Read by CostModel.batchStep / batchSlot (TetriServe `batching`); provenance keys
   * "batch<b>" mark them (measured:/derived:...).
   */
  readonly batchStepSeconds?: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

export interface LatencyProfile {
  readonly format: typeof PROFILE_FORMAT;
  readonly model: string;
  readonly device: string;
  /** Parallel degrees the profile covers, ascending (e.g. [1, 2, 4, 8]). */
  readonly degrees: readonly number[];
  /** Ascending by resolution. */
  readonly entries: readonly ProfileEntry[];
  readonly sources?: unknown;
  readonly notes?: unknown;
}

function fail(where: string, msg: string): never {
  throw new Error(`latency profile ${where}: ${msg}`);
}

/** Validates a parsed JSON value and returns it typed; every error names the field and the fix. */
export function parseProfile(raw: unknown, where = '(inline)'): LatencyProfile {
  if (typeof raw !== 'object' || raw === null) fail(where, 'expected a JSON object');
  const o = raw as Record<string, unknown>;
  if (o.format !== PROFILE_FORMAT) fail(where, `"format" must be "${PROFILE_FORMAT}" (got ${JSON.stringify(o.format)})`);
  if (!Array.isArray(o.degrees) || o.degrees.length === 0) fail(where, '"degrees" must be a non-empty array like [1, 2, 4, 8]');
  const degrees = o.degrees as unknown[];
  degrees.forEach((d, i) => {
    if (!Number.isInteger(d) || (d as number) < 1) fail(where, `degrees[${i}] must be a positive integer (got ${JSON.stringify(d)})`);
    if (i > 0 && (d as number) <= (degrees[i - 1] as number)) fail(where, '"degrees" must be strictly ascending');
  });
  if (!Array.isArray(o.entries) || o.entries.length === 0) fail(where, '"entries" must be a non-empty array of {resolution, stepSeconds, groupChangeSeconds}');
  let prev = 0;
  for (const [i, e] of (o.entries as unknown[]).entries()) {
    if (typeof e !== 'object' || e === null) fail(where, `entries[${i}] must be an object`);
    const en = e as Record<string, unknown>;
    const r = en.resolution;
    if (!Number.isInteger(r) || (r as number) <= 0 || (r as number) % 16 !== 0) fail(where, `entries[${i}].resolution must be a positive multiple of 16 (got ${JSON.stringify(r)})`);
    if ((r as number) <= prev) fail(where, `entries must be sorted by ascending resolution (entries[${i}] = ${r} after ${prev})`);
    prev = r as number;
    const ss = en.stepSeconds as Record<string, unknown> | undefined;
    if (typeof ss !== 'object' || ss === null) fail(where, `entries[${i}].stepSeconds must map each degree to seconds`);
    for (const d of degrees) {
      const v = ss[String(d)];
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(where, `entries[${i}] (resolution ${r}) stepSeconds["${d}"] must be a positive number (got ${JSON.stringify(v)})`);
    }
    if (en.batchStepSeconds !== undefined) {
      const bs = en.batchStepSeconds as Record<string, unknown>;
      if (typeof bs !== 'object' || bs === null) fail(where, `entries[${i}].batchStepSeconds must map batch sizes to {degree: seconds}`);
      for (const [b, row] of Object.entries(bs)) {
        if (!/^\d+$/.test(b) || Number(b) < 2) fail(where, `entries[${i}].batchStepSeconds key "${b}" must be a batch size >= 2`);
        if (typeof row !== 'object' || row === null) fail(where, `entries[${i}].batchStepSeconds["${b}"] must map degrees to seconds`);
        for (const [d, v] of Object.entries(row as Record<string, unknown>)) {
          if (!degrees.includes(Number(d))) fail(where, `entries[${i}].batchStepSeconds["${b}"] has degree "${d}", which is not in "degrees"`);
          if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(where, `entries[${i}].batchStepSeconds["${b}"]["${d}"] must be a positive number (got ${JSON.stringify(v)})`);
        }
      }
    }
    const g = en.groupChangeSeconds;
    if (typeof g !== 'number' || !Number.isFinite(g) || g < 0) fail(where, `entries[${i}].groupChangeSeconds must be a number >= 0 (got ${JSON.stringify(g)})`);
  }
  return raw as LatencyProfile;
}

/** How many step times are measured, published, derived, assumed or carry no provenance at all. */
export function provenanceCounts(profile: LatencyProfile): Record<'measured' | 'published' | 'derived' | 'assumed' | 'unmarked', number> {
  const c = { measured: 0, published: 0, derived: 0, assumed: 0, unmarked: 0 };
  for (const e of profile.entries) {
    for (const d of profile.degrees) {
      const p = (e.provenance?.[String(d)] ?? '').trim().toLowerCase();
      const kind = (['measured', 'published', 'derived', 'assumed'] as const).find((k) => p.startsWith(k));
      c[kind ?? 'unmarked']++;
    }
  }
  return c;
}

/** One line for result headers: "3 published, 21 derived step times". */
export function provenanceSummary(profile: LatencyProfile): string {
  const c = provenanceCounts(profile);
  const parts = Object.entries(c).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`);
  // Batched step times (provenance keys "batch<b>", one per batch size and resolution), when there are any.
  const b = { measured: 0, published: 0, derived: 0, assumed: 0, unmarked: 0 };
  for (const e of profile.entries) {
    for (const size of Object.keys(e.batchStepSeconds ?? {})) {
      const p = (e.provenance?.[`batch${size}`] ?? '').trim().toLowerCase();
      const kind = (['measured', 'published', 'derived', 'assumed'] as const).find((k) => p.startsWith(k));
      b[kind ?? 'unmarked'] += Object.keys(e.batchStepSeconds![size]).length;
    }
  }
  const bparts = Object.entries(b).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`);
  return `${parts.join(', ')} step times${bparts.length ? `; batched: ${bparts.join(', ')}` : ''}`;
}

/** Latent tokens of a square image for a DiT with 8x VAE downsampling and 2x2 patches: (side/16)^2. */
export function imageTokens(resolution: number): number {
  return (resolution / 16) ** 2;
}

/** Checks a requested resolution; the error says what is accepted. */
export function checkResolution(resolution: number): void {
  if (!Number.isInteger(resolution) || resolution < 16 || resolution % 16 !== 0) {
    throw new Error(`resolution ${resolution} is not supported: use a positive multiple of 16 (e.g. 256, 512, 1024, 2048)`);
  }
}

/**
 * Per-step latency at any resolution: exact for profiled ones, otherwise interpolated in log(tokens)/log(time)
 * (DiT step cost is a sum of a linear and a quadratic term in tokens, so it is close to a power law between
 * neighbouring profiled points); outside the profiled range the nearest segment's slope is extended.
 */
export function interpolateStep(profile: LatencyProfile, resolution: number, degree: number): number {
  checkResolution(resolution);
  const key = String(degree);
  if (!profile.degrees.includes(degree)) throw new Error(`degree ${degree} is not in the latency profile (it has ${profile.degrees.join(', ')})`);
  return interpolate(profile, resolution, (e) => e.stepSeconds[key], true);
}

/** Group-change cost at any resolution, interpolated linearly in tokens (it moves latents: linear in size). */
export function interpolateGroupChange(profile: LatencyProfile, resolution: number): number {
  checkResolution(resolution);
  return Math.max(0, interpolate(profile, resolution, (e) => e.groupChangeSeconds, false));
}

function interpolate(profile: LatencyProfile, resolution: number, get: (e: ProfileEntry) => number, logLog: boolean): number {
  const es = profile.entries;
  const exact = es.find((e) => e.resolution === resolution);
  if (exact) return get(exact);
  if (es.length === 1) {
    const e = es[0];
    const scale = imageTokens(resolution) / imageTokens(e.resolution);
    return get(e) * scale;
  }
  let hi = es.findIndex((e) => e.resolution > resolution);
  if (hi <= 0) hi = hi === 0 ? 1 : es.length - 1;
  const a = es[hi - 1];
  const b = es[hi];
  const x = imageTokens(resolution);
  const xa = imageTokens(a.resolution);
  const xb = imageTokens(b.resolution);
  const ya = get(a);
  const yb = get(b);
  if (logLog) {
    const t = (Math.log(x) - Math.log(xa)) / (Math.log(xb) - Math.log(xa));
    return Math.exp(Math.log(ya) + t * (Math.log(yb) - Math.log(ya)));
  }
  const t = (x - xa) / (xb - xa);
  return ya + t * (yb - ya);
}

/**
 * Builds and validates a profile from measurements (what `dit bench model` should call), so a writer cannot
 * produce a file the scheduler would reject. Entries are sorted by resolution.
 */
export function makeProfile(p: Omit<LatencyProfile, 'format'>): LatencyProfile {
  const profile = { format: PROFILE_FORMAT, ...p, entries: [...p.entries].sort((a, b) => a.resolution - b.resolution) };
  return parseProfile(profile, `(${p.model} on ${p.device})`);
}

/** Stable JSON text for a profile file (2-space indent, trailing newline). */
export function profileToJson(profile: LatencyProfile): string {
  return `${JSON.stringify(profile, null, 2)}\n`;
}
