// Round packing: a group (multiple-choice) knapsack over GPUs. Each request is a group of options
// "skip this round" or "run at degree k"; an option's weight is its GPU count, its value says whether the
// request can still meet its deadline after the round. The DP picks one option per request maximising the
// total value within the free GPUs.
//
// Efficiency: all buffers are typed arrays owned by a reusable Packer and grown only when a round is larger
// than any before, so a decision allocates nothing per DP cell (and nothing at all in steady state).

/** Marks an option that must not be chosen. */
export const FORBIDDEN = -Infinity;

export class Packer {
  private prev = new Float64Array(0);
  private cur = new Float64Array(0);
  private choice = new Uint8Array(0);
  /** values[i * options + o]; option 0 is "skip" (weight 0). Filled by the caller through setValue. */
  values = new Float64Array(0);
  /** weights[o]: GPUs taken by option o (weights[0] = 0). */
  weights = new Int32Array(0);
  private items = 0;
  private options = 0;

  /** Prepares buffers for `items` requests with the given option weights; every value starts FORBIDDEN. */
  reset(items: number, optionWeights: ArrayLike<number>): void {
    const options = optionWeights.length;
    if (options > 255) throw new Error('packing supports at most 255 options per request');
    this.items = items;
    this.options = options;
    if (this.weights.length !== options) this.weights = new Int32Array(options);
    for (let o = 0; o < options; o++) this.weights[o] = optionWeights[o];
    const need = items * options;
    if (this.values.length < need) this.values = new Float64Array(Math.max(need, this.values.length * 2));
    this.values.fill(FORBIDDEN, 0, need);
  }

  setValue(item: number, option: number, value: number): void {
    this.values[item * this.options + option] = value;
  }

  /**
   * Solves the group knapsack with `capacity` GPUs and writes the chosen option of item i into out[i].
   * Returns the best total value. O(items * capacity * options) time, O(items * capacity) bytes for choices.
   */
  solve(capacity: number, out: Uint8Array): number {
    const n = this.items;
    const O = this.options;
    const G = Math.max(0, capacity | 0);
    if (this.prev.length < G + 1) {
      this.prev = new Float64Array(G + 1);
      this.cur = new Float64Array(G + 1);
    }
    if (this.choice.length < n * (G + 1)) this.choice = new Uint8Array(Math.max(n * (G + 1), this.choice.length * 2));
    let prev = this.prev;
    let cur = this.cur;
    // best[g] = best value of the items so far using at most g GPUs.
    prev.fill(0, 0, G + 1);
    const vals = this.values;
    const w = this.weights;
    const choice = this.choice;
    for (let i = 0; i < n; i++) {
      const base = i * O;
      const cbase = i * (G + 1);
      for (let g = 0; g <= G; g++) {
        let bestV = -Infinity;
        let bestO = 0;
        for (let o = 0; o < O; o++) {
          const wo = w[o];
          if (wo > g) continue;
          const v = vals[base + o];
          if (v === FORBIDDEN) continue;
          const total = prev[g - wo] + v;
          // Strict '>' keeps the lowest option index on ties: skip (0) first, then smaller degrees.
          if (total > bestV) {
            bestV = total;
            bestO = o;
          }
        }
        cur[g] = bestV;
        choice[cbase + g] = bestO;
      }
      const t = prev;
      prev = cur;
      cur = t;
    }
    // prev holds the final row; reconstruct from full capacity.
    let g = G;
    const total = prev[G];
    for (let i = n - 1; i >= 0; i--) {
      const o = choice[i * (G + 1) + g];
      out[i] = o;
      g -= w[o];
    }
    this.prev = prev;
    this.cur = cur;
    return total;
  }
}
