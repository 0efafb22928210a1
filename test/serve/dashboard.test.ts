// The live dashboard in headless Chromium (Debian's chromium through playwright-core): the page loads, polls the
// server, and the "Tetris" canvas draws one coloured block per assignment on the GPU rows; checked on a
// screenshot's pixels. Skips, saying why, when /usr/bin/chromium is missing (CI: apt-get install -y chromium).
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import type { RunningServer } from '../../src/serve/server.js';
import { tinyServer } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const have = existsSync(CHROMIUM);
if (!have) console.warn(`dashboard test skipped: ${CHROMIUM} is missing (install it with: apt-get install -y chromium)`);

let s: RunningServer;

describe.skipIf(!have)('dashboard in headless Chromium', () => {
  beforeAll(async () => {
    s = await tinyServer({ gpus: 2, resolutions: [32] });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('draws the GPUs x time chart with the assignments of real requests, the queue and SLO attainment', async () => {
    // Work first, so the chart has blocks on both GPU rows.
    const posts = [];
    for (let i = 0; i < 4; i++) posts.push(fetch(`${s.url}/v1/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: `dash ${i}`, size: '32x32', steps: 2, slo_scale: 20 }) }));
    await Promise.all(posts);
    await s.core.driver.idle();
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
      await page.goto(`${s.url}/dashboard/`);
      await page.waitForFunction('document.body.dataset.updated !== undefined', undefined, { timeout: 20_000 });
      const slo = await page.textContent('#slo');
      expect(slo).toMatch(/SLO attainment: \d+(\.\d)?% \(\d+\/\d+\)/);
      expect(await page.textContent('#gpus')).toBe('GPUs alive: 2/2');
      const png = await page.locator('#tetris').screenshot();
      if (process.env.DASHBOARD_SCREENSHOT) await page.screenshot({ path: process.env.DASHBOARD_SCREENSHOT, fullPage: true });
      const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      // Coloured (saturated) pixels on each GPU row: blocks were drawn there. Rows: y = 10 + i*rowH (rowH 60 here).
      const rowH = 60;
      const saturatedIn = (y0: number, y1: number): number => {
        let n = 0;
        for (let y = y0; y < y1; y++) for (let x = 60; x < info.width; x++) {
          const i = (y * info.width + x) * 3;
          const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
          if (Math.max(r, g, b) - Math.min(r, g, b) > 60) n++;
        }
        return n;
      };
      const row0 = saturatedIn(12, 10 + rowH - 6);
      const row1 = saturatedIn(12 + rowH, 10 + 2 * rowH - 6);
      console.log(`dashboard: coloured pixels on GPU 0 row ${row0}, GPU 1 row ${row1}`);
      expect(row0).toBeGreaterThan(20);
      expect(row1).toBeGreaterThan(20);
      // Below the rows nothing is drawn in colour (the chart is not just noise).
      expect(saturatedIn(10 + 2 * rowH + 5, info.height - 20)).toBe(0);
    } finally {
      await browser.close();
    }
  });
});
