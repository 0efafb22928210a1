#!/usr/bin/env node
// Thin launcher: the CLI is compiled from src/ to dist/ by `npm install` (the prepare script) or `npm run build`.
// It refuses to run a dist/ older than src/: an edit followed by a run must never print the old program's output.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = join(root, 'dist', 'cli', 'main.js');
if (!existsSync(entry)) {
  console.error('dit: dist/ is missing. Run `npm install` (or `npm run build`) in the project root first.');
  process.exit(1);
}

/** The newest .ts file under dir, as [path, mtimeMs]. */
function newestSource(dir) {
  let best = ['', 0];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const n = newestSource(p);
      if (n[1] > best[1]) best = n;
    } else if (e.name.endsWith('.ts')) {
      const m = statSync(p).mtimeMs;
      if (m > best[1]) best = [p, m];
    }
  }
  return best;
}

// Only a checkout has src/; an installed package ships dist/ alone.
if (existsSync(join(root, 'src')) && !process.env.DIT_ALLOW_STALE_BUILD) {
  const [file, mtime] = newestSource(join(root, 'src'));
  if (mtime > statSync(entry).mtimeMs) {
    console.error(`dit: the build in dist/ is older than ${file.slice(root.length)}. Run \`npm run build\` first.`);
    process.exit(1);
  }
}
await import(new URL(`file://${entry}`).href);
