// A checkout runs compiled code from dist/; an edit followed by a run must never run the old program. Used by the
// `dit` launcher (bin/dit.js) for the CLI and by the server's engine thread for its script.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The newest .ts file under dir: [path, mtimeMs] (['', 0] when there is none). */
export function newestSource(dir: string): [string, number] {
  let best: [string, number] = ['', 0];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    const n: [string, number] = e.isDirectory() ? newestSource(p) : e.name.endsWith('.ts') ? [p, statSync(p).mtimeMs] : ['', 0];
    if (n[1] > best[1]) best = n;
  }
  return best;
}

/**
 * A source under `root`/src newer than the built file `built` (its path relative to root), or null when the build
 * is current. DIT_ALLOW_STALE_BUILD=1 skips the check: the GPU scripts carry a build made beside the sources, and
 * file times do not travel.
 */
export function newerSource(root: string, built: string): string | null {
  if (process.env.DIT_ALLOW_STALE_BUILD) return null;
  const [file, mtime] = newestSource(join(root, 'src'));
  return mtime > statSync(built).mtimeMs ? file.slice(root.length).replace(/^\//, '') : null;
}
