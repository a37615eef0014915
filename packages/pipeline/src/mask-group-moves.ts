// ---- Group-exact moves of the swap pass: every t-out/t-in exchange inside one M-run, exact loss change ----

/** The row state the swap pass keeps (see mask-swap.ts): A = (Hd_KK)⁻¹, B = Hd·A, optimum w', gradient g. */
export interface GroupMoveState {
  readonly hd: Float64Array;
  readonly n: number;
  readonly m: Uint8Array;
  readonly a: Float64Array;
  readonly b: Float64Array;
  readonly wOpt: Float64Array;
  readonly g: Float64Array;
  /** Schur complements s_j = Hd_jj − Hd_jK·A·Hd_Kj of the pruned columns (diagonal only). */
  readonly sch: Float64Array;
}

/** A move: drop the kept columns `out`, keep the pruned columns `into` (same size), loss change `delta`. */
export interface GroupMove {
  readonly delta: number;
  readonly out: readonly number[];
  readonly into: readonly number[];
}

/** In-place inverse of a small SPD matrix (t × t, row-major) by Gauss–Jordan; false when a pivot is ≤ 0. */
function invertSmall(x: Float64Array, t: number): boolean {
  const aug = new Float64Array(t * 2 * t);
  for (let r = 0; r < t; r++) {
    for (let c = 0; c < t; c++) aug[r * 2 * t + c] = x[r * t + c]!;
    aug[r * 2 * t + t + r] = 1;
  }
  for (let c = 0; c < t; c++) {
    const p = aug[c * 2 * t + c]!;
    if (!(p > 0)) return false;
    for (let q = 0; q < 2 * t; q++) aug[c * 2 * t + q]! /= p;
    for (let r = 0; r < t; r++) {
      if (r === c) continue;
      const f = aug[r * 2 * t + c]!;
      if (f !== 0) for (let q = 0; q < 2 * t; q++) aug[r * 2 * t + q]! -= f * aug[c * 2 * t + q]!;
    }
  }
  for (let r = 0; r < t; r++) for (let c = 0; c < t; c++) x[r * t + c] = aug[r * 2 * t + t + c]!;
  return true;
}

/** All subsets of `items` of size `t` (lexicographic). */
function subsets(items: readonly number[], t: number): number[][] {
  const out: number[][] = [];
  const pick: number[] = [];
  const rec = (from: number): void => {
    if (pick.length === t) {
      out.push([...pick]);
      return;
    }
    for (let i = from; i <= items.length - (t - pick.length); i++) {
      pick.push(items[i]!);
      rec(i + 1);
      pick.pop();
    }
  };
  rec(0);
  return out;
}

/**
 * Exact loss change of dropping the kept set R and keeping the pruned set S (|R| = |S| = t):
 * Δ = w'_Rᵀ(A_RR)⁻¹w'_R − g₀_Sᵀ(Σ₀)⁻¹g₀_S with g₀ = g_S − B_SR(A_RR)⁻¹w'_R and
 * Σ₀ = Σ_SS + B_SR(A_RR)⁻¹B_SRᵀ, Σ_SS the Schur complement of the current kept set on S
 * (block forms of the one-swap formula: remove R by a rank-t downdate, then add S by bordering).
 * +∞ when a small system is not positive definite.
 */
export function moveDelta(st: GroupMoveState, out: readonly number[], into: readonly number[]): number {
  const { hd, n, m, a, b, wOpt, g, sch } = st;
  const t = out.length;
  const ai = new Float64Array(t * t); // (A_RR)⁻¹
  for (let p = 0; p < t; p++) for (let q = 0; q < t; q++) ai[p * t + q] = a[out[p]! * n + out[q]!]!;
  if (!invertSmall(ai, t)) return Number.POSITIVE_INFINITY;
  const v = new Float64Array(t); // (A_RR)⁻¹ w'_R
  let up = 0;
  for (let p = 0; p < t; p++) {
    let s = 0;
    for (let q = 0; q < t; q++) s += ai[p * t + q]! * wOpt[out[q]!]!;
    v[p] = s;
    up += wOpt[out[p]!]! * s;
  }
  const bsr = new Float64Array(t * t); // B_SR
  for (let p = 0; p < t; p++) for (let q = 0; q < t; q++) bsr[p * t + q] = b[into[p]! * n + out[q]!]!;
  const g0 = new Float64Array(t);
  const sig = new Float64Array(t * t); // Σ₀
  for (let p = 0; p < t; p++) {
    const sp = into[p]!;
    let s = g[sp]!;
    for (let q = 0; q < t; q++) s -= bsr[p * t + q]! * v[q]!;
    g0[p] = s;
    for (let r = 0; r < t; r++) {
      const sr = into[r]!;
      let e: number;
      if (r === p) e = sch[sp]!;
      else {
        e = hd[sp * n + sr]!;
        for (let q = 0; q < n; q++) if (m[q] === 1) e -= b[sp * n + q]! * hd[q * n + sr]!;
      }
      // + B_SR (A_RR)⁻¹ B_SRᵀ
      for (let x = 0; x < t; x++) {
        let y = 0;
        for (let z = 0; z < t; z++) y += ai[x * t + z]! * bsr[r * t + z]!;
        e += bsr[p * t + x]! * y;
      }
      sig[p * t + r] = e;
    }
  }
  if (!invertSmall(sig, t)) return Number.POSITIVE_INFINITY;
  let gain = 0;
  for (let p = 0; p < t; p++) {
    let s = 0;
    for (let q = 0; q < t; q++) s += sig[p * t + q]! * g0[q]!;
    gain += g0[p]! * s;
  }
  return up - gain;
}

/**
 * Best move inside the run [g0, g1) over every equal-size exchange of its kept and pruned columns
 * (t = 1 … min(kept, pruned) of the run, capped at `maxT`): for N:M with the whole cap this visits all
 * C(M, N) − 1 other masks of the run with the rest of the row fixed (2:4: the four one-swaps and the
 * 2-out/2-in complement that one-swaps cannot reach in one step). Returns the move with the lowest Δ
 * below `threshold`, or undefined.
 */
export function bestGroupMove(
  st: GroupMoveState,
  g0: number,
  g1: number,
  maxT: number,
  threshold: number,
): GroupMove | undefined {
  const kept: number[] = [];
  const pruned: number[] = [];
  for (let j = g0; j < g1; j++) (st.m[j] === 1 ? kept : pruned).push(j);
  let best: GroupMove | undefined;
  let bd = threshold;
  const tMax = Math.min(kept.length, pruned.length, maxT);
  for (let t = 1; t <= tMax; t++) {
    const rs = subsets(kept, t);
    const ss = subsets(pruned, t);
    for (const out of rs) {
      for (const into of ss) {
        const d = moveDelta(st, out, into);
        if (d < bd) {
          bd = d;
          best = { delta: d, out, into };
        }
      }
    }
  }
  return best;
}
