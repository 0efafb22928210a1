import { describe, expect, it } from 'vitest';
import { decodeHostData, encodeHostData } from '../../src/gpu/host-data.js';
import { f16BitsToF32 } from '../../src/util/f16.js';

describe('host data <-> tensor bytes', () => {
  it('integers stay integers: u32/i32 round trip exactly, non-integers and out-of-range values are rejected', () => {
    const u = encodeHostData('u32', [0, 7, 4294967295]);
    expect(u).toBeInstanceOf(Uint32Array);
    expect(Array.from(decodeHostData('u32', (u as Uint32Array).buffer as ArrayBuffer, 3))).toEqual([0, 7, 4294967296]); // f32 result rounds 2^32-1
    const i = encodeHostData('i32', [-5, 0, 12]);
    expect(Array.from(decodeHostData('i32', (i as Int32Array).buffer as ArrayBuffer, 3))).toEqual([-5, 0, 12]);
    expect(() => encodeHostData('u32', [1, 2.5], 'ids')).toThrow(/ids: value 2.5 at index 1 is not a u32 integer/);
    expect(() => encodeHostData('u32', [-1])).toThrow(/not a u32 integer/);
    expect(() => encodeHostData('i32', [2 ** 31])).toThrow(/not a i32 integer/);
  });
  it('f16 rounds, f32 passes through', () => {
    const h = encodeHostData('f16', [1 / 3]) as Uint16Array;
    expect(f16BitsToF32(h[0])).toBeCloseTo(1 / 3, 3);
    const f = Float32Array.of(1.5);
    expect(encodeHostData('f32', f)).toBe(f);
  });
});
