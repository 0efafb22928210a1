#!/usr/bin/env node
// Thin launcher: the CLI is compiled from src/ to dist/ by `npm install` (the prepare script) or `npm run build`.
// It refuses to run a dist/ older than src/: an edit followed by a run must never print the old program's output.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = join(root, 'dist', 'cli', 'main.js');
if (!existsSync(entry)) {
  console.error('dit: dist/ is missing. Run `npm install` (or `npm run build`) in the project root first.');
  process.exit(1);
}

// Only a checkout has src/; an installed package ships dist/ alone. The check itself is compiled code
// (src/util/build-freshness.ts, shared with the server's engine thread); a dist/ too old to have it is stale too.
if (existsSync(join(root, 'src'))) {
  let newer;
  try {
    const { newerSource } = await import(new URL(`file://${join(root, 'dist', 'util', 'build-freshness.js')}`).href);
    newer = newerSource(root, entry);
  } catch {
    newer = 'src/';
  }
  if (newer) {
    console.error(`dit: the build in dist/ is older than ${newer}. Run \`npm run build\` first.`);
    process.exit(1);
  }
}
await import(new URL(`file://${entry}`).href);
