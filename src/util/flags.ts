// Flag parsing shared by the commands (src/cli, and the benchmark commands that src/bench registers itself): every
// failure is a FlagError naming the flag, the value and what is wanted (exit status 2, not an internal error).
import { readFile, stat } from 'node:fs/promises';
import { FlagError, UserInputError } from './errors.js';

/** An integer in [min, max]; the whole string must be one. */
export function intFlag(flag: string, v: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(v);
  if (!/^\s*-?\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new FlagError(flag, `must be an integer from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ' up'}, got '${v}'`);
  }
  return n;
}

/** Comma-separated integers, each in [min, max]; empty items are skipped, '' gives none. */
export function intListFlag(flag: string, v: string, min: number, max = Number.MAX_SAFE_INTEGER): number[] {
  return v.split(',').map((x) => x.trim()).filter(Boolean).map((x) => intFlag(flag, x, min, max));
}

/** Comma-separated names, each one of `choices`; empty items are skipped. */
export function choiceListFlag<T extends string>(flag: string, v: string, choices: readonly T[]): T[] {
  return v.split(',').map((x) => x.trim()).filter(Boolean).map((x) => {
    if (!(choices as readonly string[]).includes(x)) throw new FlagError(flag, `'${x}' is not one of ${choices.join(', ')}`);
    return x as T;
  });
}

/** A finite number > 0. */
export function positiveNumberFlag(flag: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new FlagError(flag, `must be a positive number such as 2e-3, got '${v}'`);
  return n;
}

/** Comma-separated resolutions (pixels per side, multiples of 16, >= 64); '' gives none. */
export function resolutionsFlag(flag: string, v: string): number[] {
  const parts = v.split(',').map((x) => x.trim());
  if (v.trim() === '') return [];
  return parts.map((x) => {
    const n = Number(x);
    if (x === '' || !Number.isInteger(n) || n % 16 !== 0 || n < 64) {
      throw new FlagError(flag, `'${x}' is not a resolution: give multiples of 16 from 64 up, comma separated (e.g. 512,1024), or '' to skip`);
    }
    return n;
  });
}

/** Reads a JSON file a flag names; a missing file, a folder or bad JSON names the flag, the path and the fix. */
export async function jsonFileFlag<T>(flag: string, path: string, what: string): Promise<T> {
  const s = await stat(path).catch(() => null);
  if (!s) throw new UserInputError(`${flag} ${path}: no such file (${what})`, 'BAD_FILE');
  if (!s.isFile()) throw new UserInputError(`${flag} ${path}: is a folder, not a file (${what})`, 'BAD_FILE');
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (e) {
    throw new UserInputError(`${flag} ${path}: not valid JSON (${(e as Error).message}); ${what}`, 'BAD_FILE');
  }
}
