// The SwiGLU kernel `swiglu` (see ../kernels.ts): out = silu(g)·u = (g / (1 + exp(−g)))·u with the
// arithmetic of @mama-prune/model's `swiglu` on float32 arrays — float64 from the float32 inputs,
// exp as Math.exp (./exp.ts, fdlibm's, all arguments), one rounding to float32 at the end — so the
// results are bitwise equal to it. Four elements per iteration (two f64x2 halves).

import { type FunctionDef, I32, op, V128, type ValType } from "../wasm-encoder.ts";
import { cat } from "./common.ts";
import { type ExpLocals, expF64x2 } from "./exp.ts";

/** Shuffle moving f32 lanes 2, 3 into lanes 0, 1. */
const HIGH_TO_LOW = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15] as const;
/** Bytes 0–7 of a, then bytes 0–7 of b. */
const LOW_LOW = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23] as const;

/** `swiglu(gp, up, op, i0, i1)`: out[i] = silu(g[i])·u[i] for i in [i0, i1) (multiples of 4). */
export function swigluKernel(): FunctionDef {
  const GP = 0,
    UP = 1,
    OP = 2,
    I0 = 3,
    I1 = 4;
  const OFF = 5,
    END = 6;
  const G = 7,
    U = 8,
    LO = 9;
  const L: ExpLocals = { x: 10, r: 11, ax: 12, k: 13, hi: 14, lo: 15, t: 16, c: 17 };
  const A = 18;
  const locals: ValType[] = [I32, I32, ...new Array<ValType>(12).fill(V128)];
  const get = op.localGet;
  const set = op.localSet;
  /** silu(a)·u on the f64x2 halves: a in A, u (f64x2) on the stack → f32x4 [r0, r1, 0, 0]. */
  const half = (g: number[], u: number[]): number[] =>
    cat(
      g,
      op.f64x2PromoteLowF32x4(),
      set(A),
      op.v128ConstF64x2(0),
      get(A),
      op.f64x2Sub(), // −a (exact; 0 − a differs from −a only for a = ±0, where exp gives 1 either way)
      set(L.x),
      expF64x2(L, "all"),
      get(A),
      op.v128ConstF64x2(1),
      get(L.r),
      op.f64x2Add(),
      op.f64x2Div(),
      u,
      op.f64x2PromoteLowF32x4(),
      op.f64x2Mul(),
      op.f32x4DemoteF64x2Zero(),
    );
  const body = cat(
    get(I0),
    op.i32Const(2),
    op.i32Shl(),
    set(OFF),
    get(I1),
    op.i32Const(2),
    op.i32Shl(),
    set(END),
    op.block(),
    op.loop(),
    get(OFF),
    get(END),
    op.i32LtU(),
    op.i32Eqz(),
    op.brIf(1),
    get(GP),
    get(OFF),
    op.i32Add(),
    op.v128Load(0),
    set(G),
    get(UP),
    get(OFF),
    op.i32Add(),
    op.v128Load(0),
    set(U),
    half(get(G), get(U)),
    set(LO),
    get(OP),
    get(OFF),
    op.i32Add(),
    get(LO),
    half(
      cat(get(G), get(G), op.i8x16Shuffle(HIGH_TO_LOW)),
      cat(get(U), get(U), op.i8x16Shuffle(HIGH_TO_LOW)),
    ),
    op.i8x16Shuffle(LOW_LOW),
    op.v128Store(0),
    get(OFF),
    op.i32Const(16),
    op.i32Add(),
    set(OFF),
    op.br(0),
    op.end(),
    op.end(),
  );
  return { name: "swiglu", params: [I32, I32, I32, I32, I32], results: [], locals, body };
}
