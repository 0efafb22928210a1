import { describe, expect, it } from 'vitest';
import { needsGroupChange, place } from '../../src/scheduler/placement.js';

describe('place', () => {
  it('keeps requests on their previous GPUs and keeps newcomers off them', () => {
    const free = [0, 1, 2, 3, 4, 5, 6, 7];
    const groups = place(
      [
        { requestId: 1, degree: 1, lastGroup: [] },
        { requestId: 2, degree: 2, lastGroup: [5, 6] },
        { requestId: 3, degree: 4, lastGroup: [0, 2] },
      ],
      free,
      8,
      true,
    );
    expect(groups[1]).toEqual([5, 6]);
    expect(groups[2]).toEqual(expect.arrayContaining([0, 2]));
    expect(groups[2]).toHaveLength(4);
    expect(groups[0]).toHaveLength(1);
    expect([5, 6, 0, 2]).not.toContain(groups[0][0]);
    expect(new Set(groups.flat()).size).toBe(7);
  });

  it('shrinks within the old group, deals in order without preservation, and rejects oversubscription', () => {
    expect(place([{ requestId: 1, degree: 2, lastGroup: [3, 4, 6, 7] }], [1, 3, 4, 6, 7], 8, true)[0]).toEqual([3, 4]);
    expect(place([{ requestId: 1, degree: 2, lastGroup: [6, 7] }], [0, 1, 6, 7], 8, false)[0]).toEqual([0, 1]);
    expect(() => place([{ requestId: 1, degree: 4, lastGroup: [] }], [0, 1], 8, true)).toThrow(/4 GPUs wanted but only 2 free/);
  });

  it('charges a group change only when the set differs from a previous one', () => {
    expect(needsGroupChange([], [0, 1])).toBe(false);
    expect(needsGroupChange([0, 1], [0, 1])).toBe(false);
    expect(needsGroupChange([0, 1], [0, 1, 2, 3])).toBe(true);
    expect(needsGroupChange([0, 1], [0, 2])).toBe(true);
  });
});
