// ---- Mask refinement by exact kept/pruned swaps (local search on each row's reconstruction loss) ----

import { type Matrix, PruneError, throwIfAborted } from "@mama-prune/core";
import { cholesky, inverseFromCholesky } from "@mama-prune/redistribute";
import { bestGroupMove, type GroupMove, type GroupMoveState } from "./mask-group-moves.ts";
import { iteratedLocalSearch } from "./mask-ils.ts";

/** Options of {@link swapRefineMask}. */
export interface SwapRefineOptions {
  /** Relative damping λ / mean(diag H) of the loss (the refit's; default 0.01). */
  readonly damping?: number;
  /**
   * N:M pattern: swaps stay inside one run of M columns (so each run keeps its count of pruned
   * weights); undefined: any kept and pruned weight of the same row may swap.
   */
  readonly nm?: { readonly n: number; readonly m: number };
  /**
   * Move set of the local search: `"swap"` (default) one kept ↔ one pruned weight; `"group"` (N:M
   * only) every equal-size exchange inside one M-run, i.e. every other mask of the run with the rest
   * of the row fixed (2:4: the one-swaps plus the 2-out/2-in complement), up to `maxMoveSize` out.
   */
  readonly moves?: "swap" | "group";
  /** Largest exchange (columns out = columns in) of `moves: "group"` (default M). */
  readonly maxMoveSize?: number;
  /**
   * Iterated local search (N:M only): after the descent, this many kicks per row, each re-drawing
   * `kickRuns` random M-runs of the best mask and descending again; a kick is kept when the row's exact
   * loss drops (default 0: plain descent). Deterministic (seeded by the row index).
   */
  readonly kicks?: number;
  /** M-runs re-drawn per kick (default 2). */
  readonly kickRuns?: number;
  /** Most swaps (moves) per row (default: cols). */
  readonly maxSwapsPerRow?: number;
  /** Names the linear in messages. */
  readonly name?: string;
  readonly signal?: AbortSignal;
}

/** What {@link swapRefineMask} returns. */
export interface SwapRefineResult {
  /** The refined mask (a new array; 1 = kept). Same count per row (and per M-run) as the input. */
  readonly mask: Uint8Array;
  /** Swaps accepted over all rows. */
  readonly swaps: number;
  /** Σ over rows of min ‖(W' − W)X‖²_damped for the input mask and for the refined mask. */
  readonly lossBefore: number;
  readonly lossAfter: number;
  /** Each row's exact loss for the refined mask (0 for rows all kept or all pruned; +∞ where the factorisation failed). */
  readonly rowLoss: Float64Array;
}

/** Per-row state: A = (Hd_KK)⁻¹ and B = Hd·A, both n×n with zeros outside the kept set K. */
interface RowState {
  readonly a: Float64Array;
  readonly b: Float64Array;
}

/** Fresh A, B for the kept set of `m`, or undefined when the Cholesky of Hd_KK fails. */
function freshState(hd: Float64Array, n: number, m: Uint8Array): RowState | undefined {
  const kept: number[] = [];
  for (let j = 0; j < n; j++) if (m[j] === 1) kept.push(j);
  const k = kept.length;
  const sys = new Float64Array(k * k); // (k, k)
  for (let p = 0; p < k; p++) for (let q = 0; q < k; q++) sys[p * k + q] = hd[kept[p]! * n + kept[q]!]!;
  const c = cholesky(sys, k);
  if (!c.ok) return undefined;
  const inv = inverseFromCholesky(c.lower, k); // (k, k)
  const a = new Float64Array(n * n); // (n, n)
  for (let p = 0; p < k; p++) for (let q = 0; q < k; q++) a[kept[p]! * n + kept[q]!] = inv[p * k + q]!;
  const b = new Float64Array(n * n); // (n, n): B[r, c] = Σ_q Hd[r, q]·A[q, c], c ∈ K
  for (let r = 0; r < n; r++) {
    for (let p = 0; p < k; p++) {
      const h = hd[r * n + kept[p]!]!;
      if (h === 0) continue;
      const ap = kept[p]! * n;
      for (let q = 0; q < k; q++) b[r * n + kept[q]!]! += h * a[ap + kept[q]!]!;
    }
  }
  return { a, b };
}

/**
 * Optimal kept weights w' (w'_K = w_K + A·Hd_KP·w_P, w'_P = 0), the gradient g = Hd(w' − w) (0 on K)
 * and the loss L = (w' − w)ᵀHd(w' − w), written into `wOpt` and `g`.
 */
function optimum(
  hd: Float64Array,
  n: number,
  w: Float32Array,
  m: Uint8Array,
  st: RowState,
  wOpt: Float64Array,
  g: Float64Array,
): number {
  const t = new Float64Array(n); // Hd_{:,P}·w_P
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let p = 0; p < n; p++) if (m[p] === 0) s += hd[r * n + p]! * w[p]!;
    t[r] = s;
  }
  for (let q = 0; q < n; q++) {
    if (m[q] === 0) {
      wOpt[q] = 0;
      continue;
    }
    let s = 0;
    for (let p = 0; p < n; p++) if (m[p] === 1) s += st.a[q * n + p]! * t[p]!;
    wOpt[q] = w[q]! + s;
  }
  let loss = 0;
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let p = 0; p < n; p++) s += hd[r * n + p]! * (wOpt[p]! - w[p]!);
    g[r] = s;
    loss += (wOpt[r]! - w[r]!) * s;
  }
  return loss;
}

/** Exact loss of row `w` under mask `m` (fresh factorisation), or +∞ when it fails. */
function exactLoss(hd: Float64Array, n: number, w: Float32Array, m: Uint8Array): number {
  const st = freshState(hd, n, m);
  if (st === undefined) return Number.POSITIVE_INFINITY;
  return optimum(hd, n, w, m, st, new Float64Array(n), new Float64Array(n));
}

/** Refine one row's mask `m` in place; returns the swaps accepted. */
function refineRow(
  hd: Float64Array,
  n: number,
  w: Float32Array,
  m: Uint8Array,
  groupSize: number,
  maxSwaps: number,
): number {
  const st = freshState(hd, n, m);
  if (st === undefined) return 0;
  const { a, b } = st;
  const wOpt = new Float64Array(n); // (n,)
  const g = new Float64Array(n); // (n,)
  const sch = new Float64Array(n); // Schur complements s_j = Hd_jj − Hd_jK·A·Hd_Kj, j ∉ K
  const col = new Float64Array(n);
  const hu = new Float64Array(n);
  let swaps = 0;
  while (swaps < maxSwaps) {
    const loss = optimum(hd, n, w, m, st, wOpt, g);
    for (let j = 0; j < n; j++) {
      if (m[j] === 1) continue;
      let s = hd[j * n + j]!;
      for (let q = 0; q < n; q++) if (m[q] === 1) s -= b[j * n + q]! * hd[q * n + j]!;
      sch[j] = s;
    }
    // Exact change of the loss for swapping kept i out and pruned j in (same group):
    // Δ = w'_i²/A_ii − (g_j − (w'_i/A_ii)·B_ji)² / (s_j + B_ji²/A_ii).
    let best = -1e-9 * Math.max(loss, 1e-30);
    let bi = -1;
    let bj = -1;
    for (let g0 = 0; g0 < n; g0 += groupSize) {
      const g1 = Math.min(n, g0 + groupSize);
      for (let i = g0; i < g1; i++) {
        if (m[i] === 0) continue;
        const aii = a[i * n + i]!;
        const wi = wOpt[i]!;
        const up = (wi * wi) / aii;
        for (let j = g0; j < g1; j++) {
          if (m[j] === 1) continue;
          const bji = b[j * n + i]!;
          const gj = g[j]! - (wi / aii) * bji;
          const sj = sch[j]! + (bji * bji) / aii;
          if (!(sj > 0)) continue;
          const d = up - (gj * gj) / sj;
          if (d < best) {
            best = d;
            bi = i;
            bj = j;
          }
        }
      }
    }
    if (bi < 0) break;
    removeKept(n, m, st, bi, col);
    if (!addKept(hd, n, m, st, bj, col, hu)) {
      m[bi] = 1; // numerically unusable: stop here (the caller re-checks the row's exact loss)
      break;
    }
    swaps++;
  }
  return swaps;
}

/** Remove kept column i: A ← A − a·aᵀ/A_ii, B ← B − B_{:,i}·aᵀ/A_ii; m[i] = 0. */
function removeKept(n: number, m: Uint8Array, st: RowState, bi: number, col: Float64Array): void {
  const { a, b } = st;
  const aii = a[bi * n + bi]!;
  for (let q = 0; q < n; q++) col[q] = m[q] === 1 ? a[q * n + bi]! : 0;
  for (let r = 0; r < n; r++) {
    const f = col[r]! / aii;
    if (f !== 0) for (let c = 0; c < n; c++) a[r * n + c]! -= f * col[c]!;
  }
  for (let r = 0; r < n; r++) {
    const f = b[r * n + bi]! / aii;
    if (f !== 0) for (let c = 0; c < n; c++) b[r * n + c]! -= f * col[c]!;
  }
  for (let q = 0; q < n; q++) {
    a[q * n + bi] = 0;
    a[bi * n + q] = 0;
    b[q * n + bi] = 0;
  }
  m[bi] = 0;
}

/**
 * Keep pruned column j: u = (A·Hd_{:,j}) − e_j = B_{j,:}ᵀ − e_j, s = Hd_jj − Hd_jK·A·Hd_Kj;
 * A ← A + u·uᵀ/s, B ← B + Hd·u·uᵀ/s; m[j] = 1. False (nothing changed) when s ≤ 0.
 */
function addKept(
  hd: Float64Array,
  n: number,
  m: Uint8Array,
  st: RowState,
  bj: number,
  col: Float64Array,
  hu: Float64Array,
): boolean {
  const { a, b } = st;
  let s = hd[bj * n + bj]!;
  for (let q = 0; q < n; q++) {
    col[q] = m[q] === 1 ? b[bj * n + q]! : 0;
    s -= col[q]! * hd[q * n + bj]!;
  }
  col[bj] = -1;
  if (!(s > 0)) return false;
  for (let r = 0; r < n; r++) {
    const f = col[r]! / s;
    if (f !== 0) for (let c = 0; c < n; c++) a[r * n + c]! += f * col[c]!;
  }
  for (let r = 0; r < n; r++) {
    let v = 0;
    for (let q = 0; q < n; q++) v += hd[r * n + q]! * col[q]!;
    hu[r] = v / s;
  }
  for (let r = 0; r < n; r++) {
    const f = hu[r]!;
    if (f !== 0) for (let c = 0; c < n; c++) b[r * n + c]! += f * col[c]!;
  }
  m[bj] = 1;
  return true;
}

/**
 * Refine one row's mask `m` in place by group-exact moves (every equal-size exchange inside a run of
 * `groupSize`, up to `maxT` columns out); returns the moves accepted.
 */
function refineRowGroups(
  hd: Float64Array,
  n: number,
  w: Float32Array,
  m: Uint8Array,
  groupSize: number,
  maxT: number,
  maxMoves: number,
): number {
  const st = freshState(hd, n, m);
  if (st === undefined) return 0;
  const wOpt = new Float64Array(n); // (n,)
  const g = new Float64Array(n); // (n,)
  const sch = new Float64Array(n); // (n,)
  const col = new Float64Array(n);
  const hu = new Float64Array(n);
  const gs: GroupMoveState = { hd, n, m, a: st.a, b: st.b, wOpt, g, sch };
  let moves = 0;
  while (moves < maxMoves) {
    const loss = optimum(hd, n, w, m, st, wOpt, g);
    for (let j = 0; j < n; j++) {
      if (m[j] === 1) continue;
      let s = hd[j * n + j]!;
      for (let q = 0; q < n; q++) if (m[q] === 1) s -= st.b[j * n + q]! * hd[q * n + j]!;
      sch[j] = s;
    }
    let best: GroupMove | undefined;
    let bd = -1e-9 * Math.max(loss, 1e-30);
    for (let g0 = 0; g0 < n; g0 += groupSize) {
      const mv = bestGroupMove(gs, g0, Math.min(n, g0 + groupSize), maxT, bd);
      if (mv !== undefined) {
        best = mv;
        bd = mv.delta;
      }
    }
    if (best === undefined) break;
    for (const i of best.out) removeKept(n, m, st, i, col);
    let ok = true;
    for (const j of best.into) {
      if (!addKept(hd, n, m, st, j, col, hu)) {
        ok = false;
        break;
      }
    }
    if (!ok) {
      // numerically unusable: restore this move's mask and stop (the caller re-checks the exact loss)
      for (const i of best.out) m[i] = 1;
      for (const j of best.into) m[j] = 0;
      break;
    }
    moves++;
  }
  return moves;
}

/**
 * Refine a pruning mask by exact swaps: per row, repeatedly swap the kept weight i and the pruned
 * weight j (of the same M-run for N:M, of the same row otherwise) whose swap lowers the row's
 * reconstruction loss L(K) = min_{w' on K} (w' − w)ᵀ(H + λI)(w' − w) the most, until no swap lowers it
 * (or `maxSwapsPerRow`). Each candidate's exact Δ costs O(1) from the kept-set inverse A = (H_KK + λI)⁻¹
 * and B = (H + λI)·A; an accepted swap updates both by one rank-one downdate and one bordering
 * (O(c²)). A row whose exact loss (fresh factorisation) would rise from round-off keeps its input mask,
 * so the pass never increases any row's loss.
 *
 * Cost per linear (rows r, cols c, kept k): r·(k³ + c·k²) to start each row, then per accepted swap
 * O(c²) for the candidates and the updates — O(r·c³) in all, as MAMA's gradual steps; gate it by width.
 * `moves: "group"` (N:M) evaluates Σ_t C(N,t)·C(M−N,t) exchanges per run, each by t × t solves plus an
 * O(c) Schur entry per pair of pruned columns, so still O(c²) per accepted move and O(r·c³) in all;
 * `kicks` adds per row `kicks` fresh factorisations and descents: O((1 + kicks)·r·c³).
 *
 * @param weight The DENSE weight [rows, cols] whose outputs the kept weights reconstruct.
 * @param gram H = XᵀX (cols × cols); dead inputs (H_jj = 0) are set to 1 as the refit does.
 * @param mask Input mask (1 = kept), not modified.
 */
export function swapRefineMask(
  weight: Matrix,
  gram: Float64Array,
  mask: Uint8Array,
  options: SwapRefineOptions = {},
): SwapRefineResult {
  const { rows, cols: n } = weight;
  const where = `swapRefineMask(${(options.name ?? "linear").slice(0, 120)})`;
  if (gram.length !== n * n || mask.length !== rows * n) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${where}: gram and mask must match the weight [${rows}, ${n}]. Expected lengths ${n * n} and ${rows * n}, got ${gram.length} and ${mask.length}.`,
    );
  }
  const nm = options.nm;
  if (nm !== undefined && (n % nm.m !== 0 || nm.n < 0 || nm.n > nm.m)) {
    throw new PruneError(
      "SPARSITY_INVALID",
      `${where}: option nm must be N ≤ M with M dividing cols. Expected M | ${n}, got ${nm.n}:${nm.m}.`,
    );
  }
  if (options.moves !== undefined && options.moves !== "swap" && options.moves !== "group") {
    throw new PruneError(
      "CONFIG_INVALID",
      `${where}: option moves must be "swap" or "group", got ${String(options.moves)}.`,
    );
  }
  const mt = options.maxMoveSize;
  if (mt !== undefined && (!Number.isInteger(mt) || mt < 1)) {
    throw new PruneError(
      "CONFIG_INVALID",
      `${where}: option maxMoveSize must be an integer >= 1, got ${String(mt)}.`,
    );
  }
  const hd = new Float64Array(gram); // (n, n)
  let sum = 0;
  for (let j = 0; j < n; j++) {
    if (hd[j * n + j] === 0) hd[j * n + j] = 1;
    sum += hd[j * n + j]!;
  }
  const lambda = (options.damping ?? 0.01) * (n === 0 ? 0 : sum / n);
  for (let j = 0; j < n; j++) hd[j * n + j]! += lambda;
  const out = new Uint8Array(mask);
  const maxSwaps = options.maxSwapsPerRow ?? n;
  const group = options.moves === "group";
  const maxT = options.maxMoveSize ?? nm?.m ?? 1;
  let swaps = 0;
  let lossBefore = 0;
  let lossAfter = 0;
  const rowLoss = new Float64Array(rows); // (rows,)
  for (let r = 0; r < rows; r++) {
    throwIfAborted(options.signal, where);
    const w = weight.data.subarray(r * n, (r + 1) * n);
    const m = out.subarray(r * n, (r + 1) * n);
    let kept = 0;
    for (let j = 0; j < n; j++) kept += m[j]!;
    if (kept === 0 || kept === n) continue;
    const orig = new Uint8Array(m);
    const before = exactLoss(hd, n, w, m);
    const done =
      group && nm !== undefined
        ? refineRowGroups(hd, n, w, m, nm.m, maxT, maxSwaps)
        : refineRow(hd, n, w, m, nm !== undefined ? nm.m : n, maxSwaps);
    let after = before;
    if (done > 0) {
      after = exactLoss(hd, n, w, m);
      if (!(after <= before)) {
        m.set(orig);
        after = before;
      } else swaps += done;
    }
    const kicks = options.kicks ?? 0;
    if (kicks > 0 && nm !== undefined && Number.isFinite(after)) {
      const descend = (t: Uint8Array): void => {
        if (group) refineRowGroups(hd, n, w, t, nm.m, maxT, maxSwaps);
        else refineRow(hd, n, w, t, nm.m, maxSwaps);
      };
      const l = iteratedLocalSearch(m, after, nm.m, kicks, options.kickRuns ?? 2, r, descend, (t) =>
        exactLoss(hd, n, w, t),
      );
      if (l < after) {
        swaps++;
        after = l;
      }
    }
    rowLoss[r] = after;
    if (Number.isFinite(before)) {
      lossBefore += before;
      lossAfter += after;
    }
  }
  return { mask: out, swaps, lossBefore, lossAfter, rowLoss };
}
