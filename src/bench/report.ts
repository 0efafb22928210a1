// Turns a kernel benchmark report (plus the PyTorch reference run's timings, when given) into a Markdown table.
import type { KernelBenchReport } from './kernel-bench.js';

/** What bench/reference/kernels_ref.py writes. */
export interface TorchReference {
  device: string;
  torch: string;
  date: string;
  /** torch.matmul f16 8192^3 in the same run: the chip's measured tensor-core ceiling. */
  matmulPeakTflops: number;
  copyGBs: number;
  results: Record<string, { medianMs: number; impl: string }>;
}

const fmt = (x: number | null | undefined, digits = 1) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits));

export function kernelMarkdown(report: KernelBenchReport, torch?: TorchReference): string {
  const lines: string[] = [];
  lines.push(`# Kernel benchmarks`);
  lines.push('');
  lines.push(`- Device: ${report.device}; date ${report.date.slice(0, 10)}; robustness ${report.robustness ? 'on' : 'off'}`);
  lines.push(`- Kernel paths: ${Object.entries(report.kernelPaths).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  lines.push(`- Measured copy ceiling (this run, read+write): ${report.copyGBs.toFixed(0)} GB/s` +
    (torch ? `; PyTorch same GPU: copy ${torch.copyGBs.toFixed(0)} GB/s, torch.matmul f16 8192³ ${torch.matmulPeakTflops.toFixed(0)} TFLOP/s (${torch.torch})` : ''));
  // Dawn's copyBufferToBuffer does not reach the chip's bandwidth on every driver (839 GB/s vs PyTorch's 2968 on
  // an H100): the higher of the two measured copies is the honest memory ceiling.
  const copyCeiling = Math.max(report.copyGBs, torch?.copyGBs ?? 0);
  lines.push(`- Medians of ≥10 timed samples after warm-up. "of ceiling": compute-bound rows against torch.matmul's measured peak, memory-bound rows against the higher measured copy bandwidth (${copyCeiling.toFixed(0)} GB/s).`);
  const toy = report.results.some((r) => r.model === 'quick');
  if (toy) lines.push('- `quick` rows are toy shapes that check the harness: their throughput is not shown (it means nothing at that size).');
  lines.push('');
  lines.push('| case | model | ms (WGSL) | TFLOP/s | GB/s | of ceiling | ms (PyTorch) | PyTorch / WGSL speed |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|');
  for (const r of report.results) {
    const t = torch?.results[r.id];
    const isToy = r.model === 'quick';
    const computeBound = r.tflops !== null;
    const ceiling = isToy ? null : computeBound ? (torch ? r.tflops! / torch.matmulPeakTflops : null) : r.gbs / copyCeiling;
    const ratio = t && Number.isFinite(r.medianMs) ? t.medianMs / r.medianMs : null;
    lines.push(`| ${r.id}${r.error ? ` (failed: ${r.error})` : ''} | ${r.model} | ${fmt(r.medianMs, 3)} | ${isToy ? '–' : fmt(r.tflops)} | ${isToy ? '–' : fmt(r.gbs, 0)} | ${ceiling === null ? '–' : `${(ceiling * 100).toFixed(0)}%`} | ${fmt(t?.medianMs, 3)} | ${ratio === null ? '–' : ratio.toFixed(2)} |`);
  }
  lines.push('');
  return lines.join('\n');
}
