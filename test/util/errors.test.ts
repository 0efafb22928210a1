import { describe, expect, it } from 'vitest';
import { GpuUnavailableError, ShaderCompileError } from '../../src/gpu/errors.js';
import { CheckpointError } from '../../src/loading/safetensors.js';
import { describeError, ERROR_CODES, errorCodeOf, FlagError } from '../../src/util/errors.js';

describe('error codes', () => {
  it('every code has a category, an exit status and an HTTP status; user errors are 4xx, resources 503, internal 500', () => {
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      if (info.category === 'user') expect(info.httpStatus, code).toBeGreaterThanOrEqual(400);
      if (info.category === 'user') expect(info.httpStatus, code).toBeLessThan(500);
      if (info.category === 'resource') expect(info.httpStatus, code).toBe(503);
      if (info.category === 'internal') expect(info.httpStatus, code).toBe(500);
      expect(info.exitCode, code).toBeGreaterThan(1);
    }
  });
  it('classifies the engine errors and Node file errors', () => {
    expect(errorCodeOf(new CheckpointError('x.safetensors: bad', 'x.safetensors'))).toBe('BAD_FILE');
    expect(errorCodeOf(new GpuUnavailableError('none'))).toBe('NO_ADAPTER');
    expect(errorCodeOf(new ShaderCompileError('k', 'line 1: bad', 'fn main() {}'))).toBe('INTERNAL');
    expect(errorCodeOf(Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' }))).toBe('BAD_FILE');
    expect(errorCodeOf(new TypeError('x is undefined'))).toBe('INTERNAL');
    const d = describeError(new FlagError('--reps', "must be an integer, got '0'"));
    expect(d).toMatchObject({ code: 'BAD_FLAG', category: 'user', exitCode: 2, httpStatus: 400, message: "--reps: must be an integer, got '0'" });
  });
});
