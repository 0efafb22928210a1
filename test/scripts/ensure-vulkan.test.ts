// The quick-start decision "is there a usable Vulkan adapter, and if not, may we install one?" must hold for
// root and for an unprivileged user alike (issue: non-root users were told to install a driver they already had).
// scripts/ensure-vulkan.sh asks Dawn through scripts/vulkan-probe.mjs; DIT_VULKAN_DRY_RUN makes it decide without
// installing anything, and VK_DRIVER_FILES pointing nowhere simulates a machine without a driver.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;
const isRoot = process.getuid?.() === 0;

function run(asNobody: boolean, env: Record<string, string> = {}) {
  const base = ['bash', 'scripts/ensure-vulkan.sh'];
  const cmd = asNobody ? ['runuser', '-u', 'nobody', '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), `PATH=${process.env.PATH}`, ...base] : base;
  const r = spawnSync(cmd[0], cmd.slice(1), { cwd: root, encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: '/tmp', ...env }, timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

// nobody must be able to read the checkout and node_modules for the unprivileged cases to mean anything.
const nobodyCanRead = isRoot && existsSync('/usr/sbin/runuser') &&
  spawnSync('runuser', ['-u', 'nobody', '--', 'test', '-r', `${root}node_modules/webgpu/package.json`]).status === 0;
if (!nobodyCanRead) console.log(`ensure-vulkan: unprivileged cases skipped (${isRoot ? 'user nobody cannot read the checkout' : 'tests are not running as root'})`);

describe('ensure-vulkan decides by asking Dawn', () => {
  it('passes quietly for the current user when an adapter exists (lavapipe or a GPU)', () => {
    const r = run(false);
    expect(r.code, r.out).toBe(0);
    expect(r.out).not.toMatch(/install/i);
  });

  it.skipIf(!nobodyCanRead)('passes for an unprivileged user when an adapter exists, without asking for sudo', () => {
    const r = run(true);
    expect(r.code, r.out).toBe(0);
    expect(r.out).not.toMatch(/sudo|install/i);
  });

  it('with no driver, root (or sudo) would install lavapipe', () => {
    const r = run(false, { VK_DRIVER_FILES: '/nonexistent/icd.json', DIT_VULKAN_DRY_RUN: '1' });
    if (isRoot) {
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/would install lavapipe as root/);
    } else {
      expect(r.out).toMatch(/would (install lavapipe as sudo|ask the user to run: sudo bash scripts\/install-lavapipe\.sh)/);
    }
  });

  it.skipIf(!nobodyCanRead)('with no driver, an unprivileged user gets the one command to run and exit code 1', () => {
    const r = run(true, { VK_DRIVER_FILES: '/nonexistent/icd.json' });
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/Run: sudo bash scripts\/install-lavapipe\.sh/);
  });
});
