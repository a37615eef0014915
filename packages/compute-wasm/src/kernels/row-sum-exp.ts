// The kernel `rowsumexp` (see ../kernels.ts): per row of a float32 matrix, the largest entry and the sum of
// exp(entry − largest), with the arithmetic of the JavaScript loops it replaces, so the results are
// bitwise equal to them:
//   let m = -Infinity; for (j …) if (y[j] > m) m = y[j];   (float32 compares: NaN never wins)
//   let s = 0;         for (j …) s += Math.exp(y[j] - m);  (float64, in column order)
// exp is ./exp.ts (fdlibm's, as Math.exp) on the domain x ≤ 0 or NaN, which y − max always is; two
// columns per exp, their two terms added to the sum one after the other.

import { F32, F64, type FunctionDef, I32, op, V128, type ValType } from "../wasm-encoder.ts";
import { cat } from "./common.ts";
import { type ExpLocals, expF64x2 } from "./exp.ts";

/**
 * `rowsumexp(yp, mp, sp, n, r0, r1)`: for rows r in [r0, r1) of y (row-major float32, n columns, at
 * yp): max[r] (float64 at mp) and sum[r] (float64 at sp) as above.
 */
export function rowSumExpKernel(): FunctionDef {
  const YP = 0,
    MP = 1,
    SP = 2,
    N = 3,
    R0 = 4,
    R1 = 5;
  const R = 6,
    P = 7,
    END = 8,
    PEND = 9,
    M = 10,
    MD = 11,
    S = 12,
    V = 13;
  const L: ExpLocals = { x: 14, r: 15, ax: 16, k: 17, hi: 18, lo: 19, t: 20, c: 21 };
  const locals: ValType[] = [I32, I32, I32, I32, F32, V128, F64, F32, ...new Array<ValType>(8).fill(V128)];
  const get = op.localGet;
  const set = op.localSet;
  const rowStart = cat(get(YP), get(R), get(N), op.i32Mul(), op.i32Const(4), op.i32Mul(), op.i32Add());
  /** While P < bound: body; P += step. */
  const walk = (bound: number, step: number, body: number[]): number[] =>
    cat(
      op.block(),
      op.loop(),
      get(P),
      get(bound),
      op.i32LtU(),
      op.i32Eqz(),
      op.brIf(1),
      body,
      get(P),
      op.i32Const(step),
      op.i32Add(),
      set(P),
      op.br(0),
      op.end(),
      op.end(),
    );
  /** x = (f64x2 on the stack) − max; r = exp(x). */
  const expOf = (lanes: number[]): number[] =>
    cat(lanes, get(MD), op.f64x2Sub(), set(L.x), expF64x2(L, "nonpositive"));
  const addLane = (lane: 0 | 1): number[] =>
    cat(get(S), get(L.r), op.f64x2ExtractLane(lane), op.f64Add(), set(S));
  const body = cat(
    get(R0),
    set(R),
    op.block(),
    op.loop(),
    get(R),
    get(R1),
    op.i32LtU(),
    op.i32Eqz(),
    op.brIf(1),
    rowStart,
    set(P),
    get(P),
    get(N),
    op.i32Const(4),
    op.i32Mul(),
    op.i32Add(),
    set(END),
    // max: m = y > m ? y : m, from −∞
    op.f32Const(Number.NEGATIVE_INFINITY),
    set(M),
    walk(
      END,
      4,
      cat(get(P), op.f32Load(0), set(V), get(V), get(M), get(V), get(M), op.f32Gt(), op.select(), set(M)),
    ),
    // sum of exp(y − m), two columns per exp, the terms added in column order
    rowStart,
    set(P),
    get(P),
    get(N),
    op.i32Const(2),
    op.i32DivU(),
    op.i32Const(8),
    op.i32Mul(),
    op.i32Add(),
    set(PEND),
    get(M),
    op.f64PromoteF32(),
    op.f64x2Splat(),
    set(MD),
    op.f64Const(0),
    set(S),
    walk(
      PEND,
      8,
      cat(expOf(cat(get(P), op.v128Load64Splat(0), op.f64x2PromoteLowF32x4())), addLane(0), addLane(1)),
    ),
    get(P),
    get(END),
    op.i32LtU(),
    op.if(),
    expOf(cat(get(P), op.f32Load(0), op.f64PromoteF32(), op.f64x2Splat())),
    addLane(0),
    op.end(),
    get(MP),
    get(R),
    op.i32Const(8),
    op.i32Mul(),
    op.i32Add(),
    get(M),
    op.f64PromoteF32(),
    op.f64Store(0),
    get(SP),
    get(R),
    op.i32Const(8),
    op.i32Mul(),
    op.i32Add(),
    get(S),
    op.f64Store(0),
    get(R),
    op.i32Const(1),
    op.i32Add(),
    set(R),
    op.br(0),
    op.end(),
    op.end(),
  );
  return { name: "rowsumexp", params: [I32, I32, I32, I32, I32, I32], results: [], locals, body };
}
