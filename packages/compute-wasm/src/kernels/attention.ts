// The fused causal attention kernel `attn` (see ../kernels.ts for its contract) and the scalar
// float64 exp it uses (a port of fdlibm's __ieee754_exp, the algorithm of V8's Math.exp).
//
// The arithmetic is that of @mama-prune/model's backend attention path (QKᵀ and P·V as `mm` calls,
// softmax in JavaScript) operation for operation, so the results are bitwise equal to it:
// - score(i, j) = Σ_d fround(qs[i, d] · k[j, d]) summed in float32 in order d = 0, 1, … (as `mm` does
//   with x = the scaled queries, w = the keys); four queries per SIMD vector (lanes = queries);
// - softmax of each query over its own key range [a, p]: max in float32 (`s > max`), then
//   e_j = exp(f64(s_j) − max) and z = Σ e_j in float64 in order j = a…p, p_j = f32(e_j / z);
// - out(i, d) = Σ_j fround(p_j · v[j, d]) in float32 in order j = a…p (lanes = d), as `mm` does with
//   x = P, w = Vᵀ (its masked keys contribute exact zeros).

import { F32, F64, type FunctionDef, I32, op, V128, type ValType } from "../wasm-encoder.ts";
import { cat } from "./common.ts";

/** The double with high word `hi` and low word `lo` (how fdlibm writes its constants). */
function fromWords(hi: number, lo = 0): number {
  const b = new DataView(new ArrayBuffer(8));
  b.setUint32(0, hi >>> 0);
  b.setUint32(4, lo >>> 0);
  return b.getFloat64(0);
}
const fromHighWord = (hi: number): number => fromWords(hi);

// fdlibm constants (e_exp.c), from their bit patterns.
const LN2_HI = fromWords(0x3fe62e42, 0xfee00000);
const LN2_LO = fromWords(0x3dea39ef, 0x35793c76);
const INV_LN2 = fromWords(0x3ff71547, 0x652b82fe);
const P1 = fromWords(0x3fc55555, 0x5555553e);
const P2 = fromWords(0xbf66c16c, 0x16bebd93);
const P3 = fromWords(0x3f11566a, 0xaf25de2c);
const P4 = fromWords(0xbebbbd41, 0xc5d26bf1);
const P5 = fromWords(0x3e663769, 0x72bea4d0);
const O_THRESHOLD = fromWords(0x40862e42, 0xfefa39ef);
const U_THRESHOLD = fromWords(0xc0874910, 0xd52d3051);
const TWO_M1000 = 2 ** -1000;
const TWO_1023 = 2 ** 1023;
/** |x| ≥ this ⟺ fdlibm's hx ≥ 0x40862E42. */
const T_BIG = fromHighWord(0x40862e42);
/** |x| ≥ this ⟺ hx > 0x3FD62E42 (|x| > 0.5 ln 2). */
const T_HALF = fromHighWord(0x3fd62e43);
/** |x| < this ⟺ hx < 0x3FF0A2B2 (|x| < 1.5 ln 2). */
const T_3HALF = fromHighWord(0x3ff0a2b2);
/** |x| < this ⟺ hx < 0x3E300000 (|x| < 2⁻²⁸). */
const T_TINY = fromHighWord(0x3e300000);

/** Locals the exp code needs (f64 x, ax, hi, lo, t, c, y, r; i32 k). */
interface ExpLocals {
  readonly x: number;
  readonly ax: number;
  readonly hi: number;
  readonly lo: number;
  readonly t: number;
  readonly c: number;
  readonly r: number;
  readonly k: number;
}

/** 2^k as f64 for an i32 on the stack (k + 1023 in [1, 2046]). */
const pow2 = (): number[] =>
  cat(
    op.i32Const(1023),
    op.i32Add(),
    op.i64ExtendI32S(),
    op.i64Const(52),
    op.i64Shl(),
    op.f64ReinterpretI64(),
  );

/**
 * Instructions computing r = exp(x) exactly as fdlibm's __ieee754_exp (and V8's Math.exp): reads
 * local `x`, writes local `r`. The high-word tests of fdlibm are the equivalent comparisons of |x|
 * with the doubles whose high word is the bound.
 */
export function expF64(L: ExpLocals): number[] {
  const get = op.localGet;
  const set = op.localSet;
  const k64 = (v: number): number[] => op.f64Const(v);
  return cat(
    op.block(), // $done
    get(L.x),
    op.f64Abs(),
    set(L.ax),
    // |x| ≥ 709.78…: NaN, overflow, underflow.
    get(L.ax),
    k64(T_BIG),
    op.f64Ge(),
    op.if(),
    get(L.x),
    k64(O_THRESHOLD),
    op.f64Gt(),
    op.if(),
    k64(Number.POSITIVE_INFINITY),
    set(L.r),
    op.br(2),
    op.end(),
    get(L.x),
    k64(U_THRESHOLD),
    op.f64Lt(),
    op.if(),
    k64(0),
    set(L.r),
    op.br(2),
    op.end(),
    op.end(),
    op.i32Const(0),
    set(L.k),
    get(L.ax),
    k64(T_HALF),
    op.f64Ge(),
    op.if(),
    // argument reduction
    get(L.ax),
    k64(T_3HALF),
    op.f64Lt(),
    op.if(),
    get(L.x),
    k64(1),
    op.f64Eq(),
    op.if(),
    k64(Math.E),
    set(L.r),
    op.br(3),
    op.end(),
    get(L.x),
    k64(0),
    op.f64Lt(),
    op.if(),
    get(L.x),
    k64(LN2_HI),
    op.f64Add(),
    set(L.hi),
    k64(-LN2_LO),
    set(L.lo),
    op.i32Const(-1),
    set(L.k),
    op.else(),
    get(L.x),
    k64(LN2_HI),
    op.f64Sub(),
    set(L.hi),
    k64(LN2_LO),
    set(L.lo),
    op.i32Const(1),
    set(L.k),
    op.end(),
    op.else(),
    // k = (int)(invln2·x ± 0.5); t = k; hi = x − t·ln2HI; lo = t·ln2LO
    k64(INV_LN2),
    get(L.x),
    op.f64Mul(),
    k64(-0.5),
    k64(0.5),
    get(L.x),
    k64(0),
    op.f64Lt(),
    op.select(),
    op.f64Add(),
    op.i32TruncF64S(),
    op.localTee(L.k),
    op.f64ConvertI32S(),
    set(L.t),
    get(L.x),
    get(L.t),
    k64(LN2_HI),
    op.f64Mul(),
    op.f64Sub(),
    set(L.hi),
    get(L.t),
    k64(LN2_LO),
    op.f64Mul(),
    set(L.lo),
    op.end(),
    get(L.hi),
    get(L.lo),
    op.f64Sub(),
    set(L.x),
    op.else(),
    get(L.ax),
    k64(T_TINY),
    op.f64Lt(),
    op.if(),
    k64(1),
    get(L.x),
    op.f64Add(),
    set(L.r),
    op.br(2),
    op.end(),
    op.end(),
    // t = x²; c = x − t·(P1 + t·(P2 + t·(P3 + t·(P4 + t·P5))))
    get(L.x),
    get(L.x),
    op.f64Mul(),
    set(L.t),
    get(L.x),
    get(L.t),
    k64(P1),
    get(L.t),
    k64(P2),
    get(L.t),
    k64(P3),
    get(L.t),
    k64(P4),
    get(L.t),
    k64(P5),
    op.f64Mul(),
    op.f64Add(),
    op.f64Mul(),
    op.f64Add(),
    op.f64Mul(),
    op.f64Add(),
    op.f64Mul(),
    op.f64Add(),
    op.f64Mul(),
    op.f64Sub(),
    set(L.c),
    get(L.k),
    op.i32Eqz(),
    op.if(),
    // 1 − ((x·c)/(c − 2) − x)
    k64(1),
    get(L.x),
    get(L.c),
    op.f64Mul(),
    get(L.c),
    k64(2),
    op.f64Sub(),
    op.f64Div(),
    get(L.x),
    op.f64Sub(),
    op.f64Sub(),
    set(L.r),
    op.br(1),
    op.end(),
    // y = 1 − ((lo − (x·c)/(2 − c)) − hi), kept in r
    k64(1),
    get(L.lo),
    get(L.x),
    get(L.c),
    op.f64Mul(),
    k64(2),
    get(L.c),
    op.f64Sub(),
    op.f64Div(),
    op.f64Sub(),
    get(L.hi),
    op.f64Sub(),
    op.f64Sub(),
    set(L.r),
    get(L.k),
    op.i32Const(-1021),
    op.i32GeS(),
    op.if(),
    get(L.k),
    op.i32Const(1024),
    op.i32Eq(),
    op.if(),
    get(L.r),
    k64(2),
    op.f64Mul(),
    k64(TWO_1023),
    op.f64Mul(),
    set(L.r),
    op.else(),
    get(L.r),
    get(L.k),
    pow2(),
    op.f64Mul(),
    set(L.r),
    op.end(),
    op.else(),
    get(L.r),
    get(L.k),
    op.i32Const(1000),
    op.i32Add(),
    pow2(),
    op.f64Mul(),
    k64(TWO_M1000),
    op.f64Mul(),
    set(L.r),
    op.end(),
    op.end(), // $done
  );
}

/** A test helper module function `exp64(x: f64) → f64` around {@link expF64}. */
export function expTestKernel(): FunctionDef {
  const L: ExpLocals = { x: 0, ax: 1, hi: 2, lo: 3, t: 4, c: 5, r: 6, k: 7 };
  return {
    name: "exp64",
    params: [F64],
    results: [F64],
    locals: [F64, F64, F64, F64, F64, F64, I32],
    body: cat(expF64(L), op.localGet(L.r)),
  };
}

/**
 * Byte layout of the parameter block of `attn` (i32 words): q, k, v, out pointers, seqLen, qDim,
 * kvDim, headDim, group (heads per KV head), window (0 = unlimited).
 */
export const ATTN_PARAM_WORDS = 10;

/** Scratch bytes one `attn` task needs for `seqLen` positions and `headDim`. */
export function attnScratchBytes(seqLen: number, headDim: number): number {
  return Math.ceil((16 * headDim + 28 * seqLen) / 64) * 64;
}

/**
 * The `attn(pp, b, h, scr)` function: causal attention of query head `h` of window `b` (see the
 * module comment for the arithmetic), parameters at `pp`, scratch at `scr`
 * ({@link attnScratchBytes}: transposed query tile [hd][4] f32, scores [seqLen][4] f32, exps
 * [seqLen] f64, probabilities [seqLen] f32).
 */
export function attnKernel(): FunctionDef {
  const PP = 0,
    B = 1,
    HH = 2,
    SCR = 3;
  let n = 4;
  const i32 = (): number => n++;
  const QP = i32(),
    KP = i32(),
    VP = i32(),
    OP = i32(),
    S = i32(),
    QD = i32(),
    KVD = i32(),
    HD = i32(),
    GRP = i32(),
    WIN = i32(),
    QB = i32(),
    KB = i32(),
    VB = i32(),
    OB = i32(),
    QT = i32(),
    S4 = i32(),
    EB = i32(),
    PB = i32(),
    I0 = i32(),
    LAST = i32(),
    J = i32(),
    D = i32(),
    PTR = i32(),
    PTR2 = i32(),
    LANE = i32(),
    POS = i32(),
    A = i32(),
    IL = i32(),
    K = i32();
  const nI32 = n - 4;
  const MX = n++; // f32
  const SV = n++; // f32
  const f64Base = n;
  const X = n++,
    AX = n++,
    HI = n++,
    LO = n++,
    T = n++,
    C = n++,
    R = n++,
    Z = n++;
  const nF64 = n - f64Base;
  const ACC = n++; // v128
  const locals: ValType[] = [
    ...new Array<ValType>(nI32).fill(I32),
    F32,
    F32,
    ...new Array<ValType>(nF64).fill(F64),
    V128,
  ];
  const get = op.localGet;
  const set = op.localSet;
  const word = (i: number): number[] => cat(get(PP), op.i32Load(4 * i));
  const mul = (...xs: number[][]): number[] => {
    const out = [...(xs[0] as number[])];
    for (let i = 1; i < xs.length; i++) out.push(...(xs[i] as number[]), ...op.i32Mul());
    return out;
  };
  const add = (a: number[], b: number[]): number[] => cat(a, b, op.i32Add());
  /** for (v = from; v < to; v++) body — `to` re-evaluated each iteration; depth of body's br: +2. */
  const forRange = (v: number, from: number[], to: number[], body: number[]): number[] =>
    cat(
      from,
      set(v),
      op.block(),
      op.loop(),
      get(v),
      to,
      op.i32LtS(),
      op.i32Eqz(),
      op.brIf(1),
      body,
      get(v),
      op.i32Const(1),
      op.i32Add(),
      set(v),
      op.br(0),
      op.end(),
      op.end(),
    );
  const max0 = (e: number[]): number[] => cat(e, op.i32Const(0), e, op.i32Const(0), op.i32GtS(), op.select());
  /** a = win ? max(0, p − win + 1) : 0 for p on the stack's expression `p`. */
  const rangeStart = (p: number[]): number[] =>
    cat(
      max0(cat(p, get(WIN), op.i32Sub(), op.i32Const(1), op.i32Add())),
      op.i32Const(0),
      get(WIN),
      op.select(),
    );

  const body = cat(
    word(0),
    set(QP),
    word(1),
    set(KP),
    word(2),
    set(VP),
    word(3),
    set(OP),
    word(4),
    set(S),
    word(5),
    set(QD),
    word(6),
    set(KVD),
    word(7),
    set(HD),
    word(8),
    set(GRP),
    word(9),
    set(WIN),
    // Row bases of this window and head (byte offsets).
    add(get(QP), mul(add(mul(get(B), get(S), get(QD)), mul(get(HH), get(HD))), op.i32Const(4))),
    set(QB),
    add(get(OP), mul(add(mul(get(B), get(S), get(QD)), mul(get(HH), get(HD))), op.i32Const(4))),
    set(OB),
    // kv head g = h / group: base = (b·S·kvDim + g·hd)·4
    add(mul(get(B), get(S), get(KVD)), mul(cat(get(HH), get(GRP), op.i32DivU()), get(HD))),
    op.i32Const(4),
    op.i32Mul(),
    set(K),
    add(get(KP), get(K)),
    set(KB),
    add(get(VP), get(K)),
    set(VB),
    // Scratch: QT [hd][4] f32, S4 [S][4] f32, E [S] f64, P [S] f32.
    get(SCR),
    set(QT),
    add(get(QT), mul(get(HD), op.i32Const(16))),
    set(S4),
    add(get(S4), mul(get(S), op.i32Const(16))),
    set(EB),
    add(get(EB), mul(get(S), op.i32Const(8))),
    set(PB),
    // Query tiles of 4.
    op.i32Const(0),
    set(I0),
    op.block(),
    op.loop(),
    get(I0),
    get(S),
    op.i32LtS(),
    op.i32Eqz(),
    op.brIf(1),
    // last = min(i0 + 3, S − 1)
    add(get(I0), op.i32Const(3)),
    add(get(S), op.i32Const(-1)),
    add(get(I0), op.i32Const(3)),
    add(get(S), op.i32Const(-1)),
    op.i32LtS(),
    op.select(),
    set(LAST),
    // QT[d][l] = q[min(i0 + l, last)][d] (already scaled)
    forRange(
      LANE,
      op.i32Const(0),
      op.i32Const(4),
      cat(
        add(get(I0), get(LANE)),
        get(LAST),
        add(get(I0), get(LANE)),
        get(LAST),
        op.i32LtS(),
        op.select(),
        set(IL),
        add(get(QB), mul(get(IL), get(QD), op.i32Const(4))),
        set(PTR),
        add(get(QT), mul(get(LANE), op.i32Const(4))),
        set(PTR2),
        forRange(
          D,
          op.i32Const(0),
          get(HD),
          cat(
            get(PTR2),
            get(PTR),
            op.f32Load(0),
            op.f32Store(0),
            add(get(PTR), op.i32Const(4)),
            set(PTR),
            add(get(PTR2), op.i32Const(16)),
            set(PTR2),
          ),
        ),
      ),
    ),
    // Scores of the 4 queries against keys [start of query i0, last].
    forRange(
      J,
      rangeStart(get(I0)),
      add(get(LAST), op.i32Const(1)),
      cat(
        op.v128Const0(),
        set(ACC),
        add(get(KB), mul(get(J), get(KVD), op.i32Const(4))),
        set(PTR),
        get(QT),
        set(PTR2),
        forRange(
          D,
          op.i32Const(0),
          get(HD),
          cat(
            get(ACC),
            get(PTR),
            op.v128Load32Splat(0),
            get(PTR2),
            op.v128Load(0),
            op.f32x4Mul(),
            op.f32x4Add(),
            set(ACC),
            add(get(PTR), op.i32Const(4)),
            set(PTR),
            add(get(PTR2), op.i32Const(16)),
            set(PTR2),
          ),
        ),
        add(get(S4), mul(get(J), op.i32Const(16))),
        get(ACC),
        op.v128Store(0),
      ),
    ),
    // Per query of the tile: softmax over its range, then P·V.
    forRange(
      LANE,
      op.i32Const(0),
      add(sub1(get(LAST), get(I0)), op.i32Const(1)),
      cat(
        add(get(I0), get(LANE)),
        set(POS),
        rangeStart(get(POS)),
        set(A),
        // max in float32
        op.f32Const(Number.NEGATIVE_INFINITY),
        set(MX),
        forRange(
          J,
          get(A),
          add(get(POS), op.i32Const(1)),
          cat(
            add(add(get(S4), mul(get(J), op.i32Const(16))), mul(get(LANE), op.i32Const(4))),
            op.f32Load(0),
            set(SV),
            get(SV),
            get(MX),
            get(SV),
            get(MX),
            op.f32Gt(),
            op.select(),
            set(MX),
          ),
        ),
        // e_j = exp(f64(s_j) − f64(max)), z = Σ e_j (float64, in order)
        op.f64Const(0),
        set(Z),
        forRange(
          J,
          get(A),
          add(get(POS), op.i32Const(1)),
          cat(
            add(add(get(S4), mul(get(J), op.i32Const(16))), mul(get(LANE), op.i32Const(4))),
            op.f32Load(0),
            op.f64PromoteF32(),
            get(MX),
            op.f64PromoteF32(),
            op.f64Sub(),
            set(X),
            expF64({ x: X, ax: AX, hi: HI, lo: LO, t: T, c: C, r: R, k: K }),
            add(get(EB), mul(get(J), op.i32Const(8))),
            get(R),
            op.f64Store(0),
            get(Z),
            get(R),
            op.f64Add(),
            set(Z),
          ),
        ),
        // p_j = f32(e_j / z)
        forRange(
          J,
          get(A),
          add(get(POS), op.i32Const(1)),
          cat(
            add(get(PB), mul(get(J), op.i32Const(4))),
            add(get(EB), mul(get(J), op.i32Const(8))),
            op.f64Load(0),
            get(Z),
            op.f64Div(),
            op.f32DemoteF64(),
            op.f32Store(0),
          ),
        ),
        // out[pos, d…d+3] = Σ_j p_j · v[j, d…d+3] (float32, in order)
        forRange(
          D,
          op.i32Const(0),
          get(HD),
          cat(
            op.v128Const0(),
            set(ACC),
            add(get(VB), mul(add(mul(get(A), get(KVD)), get(D)), op.i32Const(4))),
            set(PTR),
            add(get(PB), mul(get(A), op.i32Const(4))),
            set(PTR2),
            forRange(
              J,
              get(A),
              add(get(POS), op.i32Const(1)),
              cat(
                get(ACC),
                get(PTR2),
                op.v128Load32Splat(0),
                get(PTR),
                op.v128Load(0),
                op.f32x4Mul(),
                op.f32x4Add(),
                set(ACC),
                add(get(PTR), mul(get(KVD), op.i32Const(4))),
                set(PTR),
                add(get(PTR2), op.i32Const(4)),
                set(PTR2),
              ),
            ),
            add(get(OB), mul(add(mul(get(POS), get(QD)), get(D)), op.i32Const(4))),
            get(ACC),
            op.v128Store(0),
            // d += 3 here, +1 by the loop: steps of 4
            add(get(D), op.i32Const(3)),
            set(D),
          ),
        ),
      ),
    ),
    add(get(I0), op.i32Const(4)),
    set(I0),
    op.br(0),
    op.end(),
    op.end(),
  );
  return { name: "attn", params: [I32, I32, I32, I32], results: [], locals, body };
}

const sub1 = (a: number[], b: number[]): number[] => cat(a, b, op.i32Sub());
