// Confidence intervals over seeds: every attainment figure is a mean over independent workload seeds, reported
// with the half-width of its two-sided 95% Student-t interval. Gains are paired per seed (the scheduler and the
// baseline it is compared with see the same request stream), which is what makes their intervals narrow.

/** Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom. */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** t quantile for a 95% two-sided interval with `df` degrees of freedom (normal limit beyond 30, +1/df term). */
export function t95(df: number): number {
  if (df < 1) return NaN;
  if (df <= 30) return T975[df - 1];
  return 1.96 + 2.4 / df;
}

export interface Estimate {
  mean: number;
  /** Half-width of the 95% confidence interval (NaN with fewer than two samples). */
  ci: number;
  n: number;
}

/** Mean and 95% CI half-width of independent samples; NaN samples (no requests of a kind) are skipped. */
export function estimate(xs: readonly number[]): Estimate {
  const v = xs.filter((x) => Number.isFinite(x));
  const n = v.length;
  if (n === 0) return { mean: NaN, ci: NaN, n: 0 };
  const mean = v.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, ci: NaN, n };
  let ss = 0;
  for (const x of v) ss += (x - mean) ** 2;
  return { mean, ci: (t95(n - 1) * Math.sqrt(ss / (n - 1))) / Math.sqrt(n), n };
}

/** Paired differences a[i] - b[i] (same seed). */
export function paired(a: readonly number[], b: readonly number[]): number[] {
  if (a.length !== b.length) throw new Error(`paired samples differ in length (${a.length} vs ${b.length})`);
  return a.map((x, i) => x - b[i]);
}
