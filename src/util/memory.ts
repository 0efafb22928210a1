import { readFileSync } from 'node:fs';

/** Peak resident set size of this process (Linux VmHWM: the kernel's own high-water mark), in bytes; falls back to the current RSS. */
export function peakRssBytes(): number {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.memoryUsage().rss;
}
