// The executors' plan cache: least recently used plans are destroyed first, and a hit refreshes an entry.
import { describe, expect, it } from 'vitest';
import { PlanCache } from '../../src/pipeline/plan-cache.js';

describe('PlanCache', () => {
  it('destroys the least recently used entry to make room, counting hits as uses', () => {
    const destroyed: string[] = [];
    const c = new PlanCache<string>(2, (v) => destroyed.push(v));
    c.makeRoom(); c.set('a', 'A');
    c.makeRoom(); c.set('b', 'B');
    expect(c.get('a')).toBe('A'); // a is now newer than b
    c.makeRoom(); c.set('c', 'C');
    expect(destroyed).toEqual(['B']);
    expect(c.get('b')).toBeUndefined();
    c.clear();
    expect(destroyed.sort()).toEqual(['A', 'B', 'C']);
  });

  it('keeps at least one entry whatever the capacity asked', () => {
    const destroyed: number[] = [];
    const c = new PlanCache<number>(0, (v) => destroyed.push(v));
    c.makeRoom(); c.set('x', 1);
    c.makeRoom(); c.set('y', 2);
    expect(destroyed).toEqual([1]);
    expect(c.get('y')).toBe(2);
  });
});
