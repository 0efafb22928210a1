// A real server on the tiny FLUX checkpoint (lavapipe in CI), listening on a free loopback port.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, type ServeConfig } from '../../src/serve/config.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';

export async function tinyServer(over: Partial<ServeConfig> = {}): Promise<RunningServer> {
  const cfg = defaultConfig({
    resultDir: mkdtempSync(join(tmpdir(), 'serve-test-')),
    port: 0,
    logLevel: process.env.SERVE_DEBUG ? 'debug' : 'silent',
    defaultSteps: 4,
    resolutions: [32, 64],
    sharedAdapter: true,
    txtTokens: 32,
    drainSeconds: 20,
    // SERVE_ENGINE_THREAD=0 runs the engines on the test's own thread (scripts/serve-status-ab.sh compares both).
    engineThread: process.env.SERVE_ENGINE_THREAD !== '0',
    ...over,
  });
  const s = await startServer(cfg, { log: process.env.SERVE_DEBUG ? console.log : undefined });
  return s;
}

/** Reads a whole SSE stream into events. */
export async function readSse(url: string): Promise<{ event: string; data: any }[]> {
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new Error(`SSE ${url}: HTTP ${res.status}`);
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((b) => b.startsWith('event:'))
    .map((b) => {
      const ev = /^event: (.*)$/m.exec(b)![1];
      const data = JSON.parse(/^data: (.*)$/m.exec(b)![1]);
      return { event: ev, data };
    });
}

export const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
