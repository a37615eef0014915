// ---- Iterated local search on one row's N:M mask: kick (re-draw a few M-runs), re-descend, keep if lower ----

/** Deterministic generator in [0, 1) (LCG), so a run's masks are reproducible. */
function lcg(seed: number): () => number {
  let s = (seed * 2654435761) >>> 0 || 1;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * Re-draw the masks of `runs` M-runs of row mask `m` (in place): each chosen run gets a uniformly
 * random other mask with the same number kept.
 */
export function kickRuns(m: Uint8Array, groupSize: number, runs: number, rand: () => number): void {
  const nRuns = Math.floor(m.length / groupSize);
  for (let k = 0; k < runs && nRuns > 0; k++) {
    const g0 = Math.floor(rand() * nRuns) * groupSize;
    let kept = 0;
    for (let j = 0; j < groupSize; j++) kept += m[g0 + j]!;
    if (kept === 0 || kept === groupSize) continue;
    const before = m.slice(g0, g0 + groupSize);
    for (let attempt = 0; attempt < 8; attempt++) {
      // Random subset of size `kept` (partial Fisher–Yates).
      const idx = Array.from({ length: groupSize }, (_, j) => j);
      for (let j = 0; j < kept; j++) {
        const p = j + Math.floor(rand() * (groupSize - j));
        [idx[j], idx[p]] = [idx[p]!, idx[j]!];
      }
      m.fill(0, g0, g0 + groupSize);
      for (let j = 0; j < kept; j++) m[g0 + idx[j]!] = 1;
      let same = true;
      for (let j = 0; j < groupSize; j++) if (m[g0 + j] !== before[j]) same = false;
      if (!same) break;
    }
  }
}

/**
 * Iterated local search from the local optimum `m` (in place): `kicks` times, copy the best mask,
 * re-draw `runsPerKick` of its M-runs, descend with `descend`, and keep the result when its exact
 * `loss` is lower than the best so far. Returns the best loss (≤ `start`).
 */
export function iteratedLocalSearch(
  m: Uint8Array,
  start: number,
  groupSize: number,
  kicks: number,
  runsPerKick: number,
  seed: number,
  descend: (trial: Uint8Array) => void,
  loss: (trial: Uint8Array) => number,
): number {
  const rand = lcg(seed + 1);
  let best = start;
  const trial = new Uint8Array(m.length);
  for (let k = 0; k < kicks; k++) {
    trial.set(m);
    kickRuns(trial, groupSize, runsPerKick, rand);
    descend(trial);
    const l = loss(trial);
    if (l < best) {
      best = l;
      m.set(trial);
    }
  }
  return best;
}
