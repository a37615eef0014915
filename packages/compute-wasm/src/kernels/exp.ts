// exp on two float64 lanes, bitwise equal to fdlibm's __ieee754_exp (the algorithm of V8's Math.exp):
// for every argument (`all`), or, cheaper, for x ≤ 0 and NaN (`nonpositive`: softmax only takes the
// exp of s − max ≤ 0).
//
// fdlibm branches on the high word of |x|; here every branch is computed and the lanes pick theirs:
// - x < −745.13… (underflow, −∞ included) → 0;
// - |x| < 2⁻²⁸ → 1 + x;
// - otherwise k = 0 (|x| < ½ln2), −1 (|x| < 1.5 ln2) or (int)(x/ln2 − ½), hi = x − k·ln2HI,
//   lo = k·ln2LO, r = hi − lo, c = r − r²·P(r²), y = 1 − ((lo − r·c/(2 − c)) − hi), and
//   exp = y·2^(k+1000)·2⁻¹⁰⁰⁰. For k = 0 this y equals fdlibm's 1 − (r·c/(c − 2) − r) bit for bit
//   (lo = 0, hi = r, and c − 2 = −(2 − c) exactly); for k ≥ −1021 both power-of-two products are
//   exact, so the result is fdlibm's y·2^k; below, it is fdlibm's own two-step product.
// - `all` adds x > 0: k = +1 on (½ln2, 1.5 ln2) with exp(1) = E as fdlibm special-cases it,
//   (int)(x/ln2 + ½) beyond, the scale 2^min(k, 1023) · (k = 1024 ? 2 : 1) for k ≥ −1021 (fdlibm's
//   y·2·2¹⁰²³ for k = 1024, exact or overflowing alike), and +∞ above 709.78….
// The tests compare it with Math.exp bit for bit on millions of arguments over the whole range.

import { type FunctionDef, I32, op, V128, type ValType } from "../wasm-encoder.ts";
import { cat } from "./common.ts";

/** The double with high word `hi` and low word `lo` (how fdlibm writes its constants). */
function fromWords(hi: number, lo = 0): number {
  const b = new DataView(new ArrayBuffer(8));
  b.setUint32(0, hi >>> 0);
  b.setUint32(4, lo >>> 0);
  return b.getFloat64(0);
}

// fdlibm constants (e_exp.c), from their bit patterns.
const LN2_HI = fromWords(0x3fe62e42, 0xfee00000);
const LN2_LO = fromWords(0x3dea39ef, 0x35793c76);
const INV_LN2 = fromWords(0x3ff71547, 0x652b82fe);
const P1 = fromWords(0x3fc55555, 0x5555553e);
const P2 = fromWords(0xbf66c16c, 0x16bebd93);
const P3 = fromWords(0x3f11566a, 0xaf25de2c);
const P4 = fromWords(0xbebbbd41, 0xc5d26bf1);
const P5 = fromWords(0x3e663769, 0x72bea4d0);
const U_THRESHOLD = fromWords(0xc0874910, 0xd52d3051);
const O_THRESHOLD = fromWords(0x40862e42, 0xfefa39ef);
/** |x| ≥ this ⟺ fdlibm's hx > 0x3FD62E42 (|x| > ½ ln 2). */
const T_HALF = fromWords(0x3fd62e43);
/** |x| < this ⟺ hx < 0x3FF0A2B2 (|x| < 1.5 ln 2). */
const T_3HALF = fromWords(0x3ff0a2b2);
/** |x| < this ⟺ hx < 0x3E300000 (|x| < 2⁻²⁸). */
const T_TINY = fromWords(0x3e300000);

/** The v128 locals {@link expF64x2} uses: input x, output r, and scratch. */
export interface ExpLocals {
  readonly x: number;
  readonly r: number;
  readonly ax: number;
  readonly k: number;
  readonly hi: number;
  readonly lo: number;
  readonly t: number;
  readonly c: number;
}

/** Which arguments {@link expF64x2} handles. */
export type ExpDomain = "nonpositive" | "all";

/**
 * Instructions computing r = exp(x) lane-wise on f64x2 local `x` into local `r`, for x ≤ 0 or NaN
 * (`nonpositive`) or every x (`all`).
 */
export function expF64x2(L: ExpLocals, domain: ExpDomain = "nonpositive"): number[] {
  return domain === "all" ? expAll(L) : expNonPositive(L);
}

const get = op.localGet;
const set = op.localSet;
const c2 = (v: number): number[] => op.v128ConstF64x2(v);
const lt = (a: number[], b: number[]): number[] => cat(a, b, op.f64x2Lt());

/** hi, lo, x' (in r), t, c and y (left on the stack) from k: shared by both domains. */
function reduceAndApproximate(L: ExpLocals): number[] {
  return cat(
    get(L.x),
    get(L.k),
    c2(LN2_HI),
    op.f64x2Mul(),
    op.f64x2Sub(),
    set(L.hi),
    get(L.k),
    c2(LN2_LO),
    op.f64x2Mul(),
    set(L.lo),
    get(L.hi),
    get(L.lo),
    op.f64x2Sub(),
    set(L.r),
    get(L.r),
    get(L.r),
    op.f64x2Mul(),
    set(L.t),
    get(L.r),
    get(L.t),
    c2(P1),
    get(L.t),
    c2(P2),
    get(L.t),
    c2(P3),
    get(L.t),
    c2(P4),
    get(L.t),
    c2(P5),
    op.f64x2Mul(),
    op.f64x2Add(),
    op.f64x2Mul(),
    op.f64x2Add(),
    op.f64x2Mul(),
    op.f64x2Add(),
    op.f64x2Mul(),
    op.f64x2Add(),
    op.f64x2Mul(),
    op.f64x2Sub(),
    set(L.c),
    c2(1),
    get(L.lo),
    get(L.r),
    get(L.c),
    op.f64x2Mul(),
    c2(2),
    get(L.c),
    op.f64x2Sub(),
    op.f64x2Div(),
    op.f64x2Sub(),
    get(L.hi),
    op.f64x2Sub(),
    op.f64x2Sub(),
  );
}

/**
 * 2^(k + bias) as f64x2 from the f64x2 of integers k on the stack (k + bias + 1023 in [1, 2046]):
 * k + bias + 1023 + 2⁵² is exact and holds that integer in its low mantissa bits, which a shift
 * by 52 moves into the exponent field (the 2⁵² exponent bits shift out).
 */
const pow2 = (bias: number): number[] =>
  cat(op.v128ConstF64x2(2 ** 52 + bias + 1023), op.f64x2Add(), op.i32Const(52), op.i64x2Shl());

function expAll(L: ExpLocals): number[] {
  const neg = lt(get(L.x), c2(0));
  return cat(
    get(L.x),
    op.f64x2Abs(),
    set(L.ax),
    // k = |x| < ½ln2 ? 0 : |x| < 1.5 ln2 ? ±1 : trunc(x/ln2 ± ½)
    c2(0),
    c2(-1),
    c2(1),
    neg,
    op.v128Bitselect(),
    c2(INV_LN2),
    get(L.x),
    op.f64x2Mul(),
    c2(-0.5),
    c2(0.5),
    neg,
    op.v128Bitselect(),
    op.f64x2Add(),
    op.f64x2Trunc(),
    lt(get(L.ax), c2(T_3HALF)),
    op.v128Bitselect(),
    lt(get(L.ax), c2(T_HALF)),
    op.v128Bitselect(),
    set(L.k),
    reduceAndApproximate(L), // y
    // k ≥ −1021: y · 2^min(k, 1023) · (k > 1023 ? 2 : 1); below: y · 2^(k+1000) · 2⁻¹⁰⁰⁰
    lt(get(L.k), c2(-1021)),
    set(L.t), // lanes below −1021
    get(L.k),
    c2(1000),
    op.f64x2Add(),
    c2(1023),
    get(L.k),
    lt(c2(1023), get(L.k)),
    op.v128Bitselect(),
    get(L.t),
    op.v128Bitselect(),
    pow2(0),
    op.f64x2Mul(),
    c2(2 ** -1000),
    c2(2),
    c2(1),
    lt(c2(1023), get(L.k)),
    op.v128Bitselect(),
    get(L.t),
    op.v128Bitselect(),
    op.f64x2Mul(),
    set(L.r),
    // exp(1) = E (fdlibm's special case); |x| < 2⁻²⁸ → 1 + x; x < −745.13… → 0; x > 709.78… → +∞
    c2(Math.E),
    get(L.r),
    get(L.x),
    c2(1),
    op.f64x2Eq(),
    op.v128Bitselect(),
    set(L.r),
    c2(1),
    get(L.x),
    op.f64x2Add(),
    get(L.r),
    lt(get(L.ax), c2(T_TINY)),
    op.v128Bitselect(),
    set(L.r),
    c2(0),
    get(L.r),
    lt(get(L.x), c2(U_THRESHOLD)),
    op.v128Bitselect(),
    set(L.r),
    c2(Number.POSITIVE_INFINITY),
    get(L.r),
    lt(c2(O_THRESHOLD), get(L.x)),
    op.v128Bitselect(),
    set(L.r),
  );
}

/**
 * x ≤ 0 only. Two shortcuts, both exact: on [½ln2, 1.5 ln2) trunc(x/ln2 − ½) is already fdlibm's
 * k = −1 (|x|/ln2 ≥ 0.5000000013 there), so only |x| < ½ln2 needs a select; and x < −745.13… (fdlibm's
 * 0) is replaced by −746 up front, whose y·2⁻¹⁰⁷⁶ (y < 2) rounds to 0 like fdlibm's underflow.
 */
function expNonPositive(L: ExpLocals): number[] {
  return cat(
    c2(-746),
    get(L.x),
    lt(get(L.x), c2(U_THRESHOLD)),
    op.v128Bitselect(),
    set(L.x),
    get(L.x),
    op.f64x2Abs(),
    set(L.ax),
    // k = |x| < ½ln2 ? 0 : trunc(x/ln2 − ½)
    c2(0),
    c2(INV_LN2),
    get(L.x),
    op.f64x2Mul(),
    c2(-0.5),
    op.f64x2Add(),
    op.f64x2Trunc(),
    lt(get(L.ax), c2(T_HALF)),
    op.v128Bitselect(),
    set(L.k),
    reduceAndApproximate(L), // y
    get(L.k),
    pow2(1000),
    op.f64x2Mul(),
    c2(2 ** -1000),
    op.f64x2Mul(),
    // |x| < 2⁻²⁸ → 1 + x
    c2(1),
    get(L.x),
    op.f64x2Add(),
    set(L.r),
    set(L.t),
    get(L.r),
    get(L.t),
    lt(get(L.ax), c2(T_TINY)),
    op.v128Bitselect(),
    set(L.r),
  );
}

/** Test helper `exp64x2(p, n)`: in place, f64 p[i] ← exp(p[i]) for i < n (n even). */
export function expTestKernel(domain: ExpDomain = "nonpositive"): FunctionDef {
  const P = 0,
    N = 1,
    END = 2;
  const L: ExpLocals = { x: 3, r: 4, ax: 5, k: 6, hi: 7, lo: 8, t: 9, c: 10 };
  const locals: ValType[] = [I32, ...new Array<ValType>(8).fill(V128)];
  return {
    name: "exp64x2",
    params: [I32, I32],
    results: [],
    locals,
    body: cat(
      op.localGet(P),
      op.localGet(N),
      op.i32Const(3),
      op.i32Shl(),
      op.i32Add(),
      op.localSet(END),
      op.block(),
      op.loop(),
      op.localGet(P),
      op.localGet(END),
      op.i32LtU(),
      op.i32Eqz(),
      op.brIf(1),
      op.localGet(P),
      op.v128Load(0),
      op.localSet(L.x),
      expF64x2(L, domain),
      op.localGet(P),
      op.localGet(L.r),
      op.v128Store(0),
      op.localGet(P),
      op.i32Const(16),
      op.i32Add(),
      op.localSet(P),
      op.br(0),
      op.end(),
      op.end(),
    ),
  };
}
