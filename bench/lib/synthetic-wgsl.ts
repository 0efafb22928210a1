// WGSL pieces shared by the synthetic tensor-core loops (bench/mma-peak.ts, bench/attention-peak.ts).

/** Bits that keep every f16 half finite and below 0.5 (sign 0, exponent <= 13); any int8 byte pattern is a valid code. */
export const FINITE_F16_MASK = 'vec4<u32>(0x37ff37ffu)';

/**
 * WGSL statements filling workgroup array `arr` (`size` vec4<u32>) with hashed operands of moderate size, then a barrier:
 * finite f16 below 0.5 in every half. Real data rather than zeros because the tensor cores' power, and so the clock,
 * depends on the data.
 */
export function fillWorkgroupWgsl(arr: string, size: number, threads: number, index = 'lid'): string {
  return `for (var i = ${index}; i < ${size}u; i += ${threads}u) { ${arr}[i] = (vec4<u32>(i) * vec4<u32>(2654435761u, 2246822519u, 3266489917u, 668265263u)) & ${FINITE_F16_MASK}; }
  workgroupBarrier();`;
}
