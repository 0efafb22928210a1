// "Where does the time go": a Plan.profile() result as a Markdown table by op kind, plus the slowest ops.
import type { Profile } from './executor.js';

export function formatProfile(p: Profile, topOps = 10): string {
  if (p.method !== 'timestamp') return `no GPU timestamps on this adapter; wall time ${p.wallMs.toFixed(2)} ms for one run`;
  const lines = [
    `GPU time ${p.gpuMs.toFixed(3)} ms summed over ${p.ops.length} ops (wall ${p.wallMs.toFixed(2)} ms, one op per pass)`,
    '',
    '| op kind | ms | share | ops | TFLOP/s | GB/s |',
    '|---|---:|---:|---:|---:|---:|',
    ...p.byKind.map((k) => `| ${k.kind} | ${k.ms.toFixed(3)} | ${(100 * k.fraction).toFixed(1)}% | ${k.count} | ${k.tflops.toFixed(2)} | ${k.gbps.toFixed(1)} |`),
  ];
  const slow = [...p.ops].sort((a, b) => b.ms - a.ms).slice(0, topOps);
  if (slow.length) {
    lines.push('', `slowest ${slow.length} ops:`, '', '| op | kind | ms |', '|---|---|---:|');
    for (const o of slow) lines.push(`| ${o.label} | ${o.kind} | ${o.ms.toFixed(3)} |`);
  }
  return lines.join('\n');
}
