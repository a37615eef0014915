// The fused causal attention kernel `attn` (see ../kernels.ts for its contract).
//
// The arithmetic is that of @mama-prune/model's backend attention path (QKᵀ and P·V as `mm` calls,
// softmax in JavaScript) operation for operation, so the results are bitwise equal to it:
// - score(i, j) = Σ_d fround(qs[i, d] · k[j, d]) summed in float32 in order d = 0, 1, … (as `mm` does
//   with x = the queries scaled and rounded to float32, w = the keys);
// - softmax of each query over its own key range [a, p]: max in float32 (`s > max`), then
//   e_j = exp(f64(s_j) − f64(max)) and z = Σ e_j in float64 in order j = a…p, p_j = f32(e_j / z);
// - out(i, d) = Σ_j fround(p_j · v[j, d]) in float32 in order j = a…p, as `mm` does with x = P,
//   w = Vᵀ.
// Four consecutive queries form a tile, one per SIMD lane, and every loop runs over the union of
// their key ranges with the lanes outside their own range masked: −∞ for the max, 0 for e_j (so z
// gains exact zeros) and for p_j (so the P·V sums gain exact zeros), which leaves every sum bitwise
// unchanged. exp is ./exp.ts (fdlibm's, as Math.exp), two lanes at a time.

import { type FunctionDef, I32, op, V128, type ValType } from "../wasm-encoder.ts";
import { cat } from "./common.ts";
import { type ExpLocals, expF64x2 } from "./exp.ts";

/**
 * Words of the parameter block of `attn` (i32): q, k, v, out pointers, seqLen, qDim, kvDim,
 * headDim, group (query heads per KV head), window (0 = unlimited).
 */
export const ATTN_PARAM_WORDS = 10;

/** Scratch bytes one `attn` task needs for `seqLen` positions and `headDim`. */
export function attnScratchBytes(seqLen: number, headDim: number): number {
  return Math.ceil((16 * headDim + 32 + 64 * seqLen) / 64) * 64;
}

/** Shuffle lanes: bytes 0–7 of a, then bytes 0–7 of b (two demoted f64x2 → one f32x4). */
const LOW_LOW = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23] as const;
/** Shuffle moving f32 lanes 2, 3 into lanes 0, 1. */
const HIGH_TO_LOW = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15] as const;

/**
 * The `attn(pp, b, h, scr)` function: causal attention of query head `h` of window `b`, parameters
 * at `pp` (queries already scaled by 1/√headDim; headDim a multiple of 4), scratch at `scr`
 * ({@link attnScratchBytes}: query tile [hd][4] f32, lane ranges [2][4] i32, scores [seqLen][4]
 * f32, exps [seqLen][4] f64, probabilities [seqLen][4] f32).
 */
export function attnKernel(): FunctionDef {
  const PP = 0,
    B = 1,
    HH = 2,
    SCR = 3;
  let n = 4;
  const nextI32 = (): number => n++;
  const S = nextI32(),
    QD = nextI32(),
    KVD = nextI32(),
    HD = nextI32(),
    WIN = nextI32(),
    QB = nextI32(),
    KB = nextI32(),
    VB = nextI32(),
    OB = nextI32(),
    QT = nextI32(),
    RG = nextI32(),
    S4 = nextI32(),
    EB = nextI32(),
    PB = nextI32(),
    I0 = nextI32(),
    LAST = nextI32(),
    A0 = nextI32(),
    J = nextI32(),
    D = nextI32(),
    PTR = nextI32(),
    PTR2 = nextI32(),
    LANE = nextI32(),
    IL = nextI32(),
    TMP = nextI32();
  const nI32 = n - 4;
  const v128Base = n;
  const nextV = (): number => n++;
  const ACC = nextV(),
    RA = nextV(),
    RP = nextV(),
    M = nextV(),
    MX = nextV(),
    MXL = nextV(),
    MXH = nextV(),
    ZL = nextV(),
    ZH = nextV(),
    SV = nextV(),
    VV = nextV(),
    O0 = nextV(),
    O1 = nextV(),
    O2 = nextV(),
    O3 = nextV();
  const EL: ExpLocals = {
    x: nextV(),
    r: nextV(),
    ax: nextV(),
    k: nextV(),
    hi: nextV(),
    lo: nextV(),
    t: nextV(),
    c: nextV(),
  };
  const locals: ValType[] = [
    ...new Array<ValType>(nI32).fill(I32),
    ...new Array<ValType>(n - v128Base).fill(V128),
  ];
  const get = op.localGet;
  const set = op.localSet;
  const word = (i: number): number[] => cat(get(PP), op.i32Load(4 * i));
  const add = (a: number[], b: number[]): number[] => cat(a, b, op.i32Add());
  const mul = (a: number[], b: number[]): number[] => cat(a, b, op.i32Mul());
  const k32 = op.i32Const;
  /** for (v = from; v < to; v++) body (`to` re-evaluated each iteration). */
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
      add(get(v), k32(1)),
      set(v),
      op.br(0),
      op.end(),
      op.end(),
    );
  const min = (a: number[], b: number[]): number[] => cat(a, b, a, b, op.i32LtS(), op.select());
  /** First visible key of position p: window ? max(0, p − window + 1) : 0. */
  const rangeStart = (p: number[]): number[] => {
    const lo = cat(p, get(WIN), op.i32Sub(), k32(1), op.i32Add());
    return cat(lo, k32(0), lo, k32(0), op.i32GtS(), op.select(), k32(0), get(WIN), op.select());
  };
  /** M = lanes whose range [a_l, p_l] holds key j. */
  const maskOfJ = cat(
    get(J),
    op.i32x4Splat(),
    set(SV),
    get(SV),
    get(RA),
    op.i32x4GeS(),
    get(SV),
    get(RP),
    op.i32x4LeS(),
    op.v128And(),
    set(M),
  );
  const keys = (body: number[]): number[] => forRange(J, get(A0), add(get(LAST), k32(1)), body);

  // Scores of the tile's 4 queries (lanes) against key j: Σ_d qt[d] · k[j, d], 4 d per iteration.
  const dStep = (u: number): number[] =>
    cat(
      get(ACC),
      get(PTR),
      op.v128Load32Splat(4 * u),
      get(PTR2),
      op.v128Load(16 * u),
      op.f32x4Mul(),
      op.f32x4Add(),
      set(ACC),
    );
  const scores = keys(
    cat(
      op.v128Const0(),
      set(ACC),
      add(get(KB), mul(mul(get(J), get(KVD)), k32(4))),
      set(PTR),
      get(QT),
      set(PTR2),
      forRange(
        D,
        k32(0),
        get(HD),
        cat(
          dStep(0),
          dStep(1),
          dStep(2),
          dStep(3),
          add(get(PTR), k32(16)),
          set(PTR),
          add(get(PTR2), k32(64)),
          set(PTR2),
          add(get(D), k32(3)),
          set(D),
        ),
      ),
      add(get(S4), mul(get(J), k32(16))),
      get(ACC),
      op.v128Store(0),
      // Lane-wise max over each query's range (masked lanes read −∞): max = s > max ? s : max.
      maskOfJ,
      get(MX),
      get(ACC),
      op.v128ConstF32x4(Number.NEGATIVE_INFINITY),
      get(M),
      op.v128Bitselect(),
      op.f32x4Pmax(),
      set(MX),
    ),
  );

  // e = exp(f64(s) − f64(max)) (0 on masked lanes), z += e; two f64x2 halves per key.
  const expHalf = (high: boolean): number[] =>
    cat(
      get(SV),
      high ? cat(get(SV), op.i8x16Shuffle(HIGH_TO_LOW)) : [],
      op.f64x2PromoteLowF32x4(),
      get(high ? MXH : MXL),
      op.f64x2Sub(),
      set(EL.x),
      expF64x2(EL),
      get(EL.r),
      get(M),
      high ? op.i64x2ExtendHighI32x4S() : op.i64x2ExtendLowI32x4S(),
      op.v128And(),
      set(EL.r),
      get(PTR),
      get(EL.r),
      op.v128Store(high ? 16 : 0),
      get(high ? ZH : ZL),
      get(EL.r),
      op.f64x2Add(),
      set(high ? ZH : ZL),
    );
  const expLoop = keys(
    cat(
      maskOfJ,
      add(get(S4), mul(get(J), k32(16))),
      op.v128Load(0),
      set(SV),
      add(get(EB), mul(get(J), k32(32))),
      set(PTR),
      expHalf(false),
      expHalf(true),
    ),
  );

  // p = f32(e / z), 0 on masked lanes (e = 0 there).
  const probLoop = keys(
    cat(
      add(get(PB), mul(get(J), k32(16))),
      add(get(EB), mul(get(J), k32(32))),
      set(PTR),
      get(PTR),
      op.v128Load(0),
      get(ZL),
      op.f64x2Div(),
      op.f32x4DemoteF64x2Zero(),
      get(PTR),
      op.v128Load(16),
      get(ZH),
      op.f64x2Div(),
      op.f32x4DemoteF64x2Zero(),
      op.i8x16Shuffle(LOW_LOW),
      op.v128Store(0),
    ),
  );

  // out[i0 + l, d…d+3] = Σ_j p[j, l] · v[j, d…d+3] for each lane l, 4 d at a time.
  const outs = [O0, O1, O2, O3];
  const pv = forRange(
    D,
    k32(0),
    get(HD),
    cat(
      ...outs.map((o) => cat(op.v128Const0(), set(o))),
      add(get(VB), mul(add(mul(get(A0), get(KVD)), get(D)), k32(4))),
      set(PTR),
      add(get(PB), mul(get(A0), k32(16))),
      set(PTR2),
      keys(
        cat(
          get(PTR),
          op.v128Load(0),
          set(VV),
          ...outs.map((o, l) =>
            cat(get(o), get(PTR2), op.v128Load32Splat(4 * l), get(VV), op.f32x4Mul(), op.f32x4Add(), set(o)),
          ),
          add(get(PTR), mul(get(KVD), k32(4))),
          set(PTR),
          add(get(PTR2), k32(16)),
          set(PTR2),
        ),
      ),
      ...outs.map((o, l) =>
        cat(
          get(LAST),
          add(get(I0), k32(l)),
          op.i32GeS(),
          op.if(),
          add(get(OB), mul(add(mul(add(get(I0), k32(l)), get(QD)), get(D)), k32(4))),
          get(o),
          op.v128Store(0),
          op.end(),
        ),
      ),
      add(get(D), k32(3)),
      set(D),
    ),
  );

  const body = cat(
    word(4),
    set(S),
    word(5),
    set(QD),
    word(6),
    set(KVD),
    word(7),
    set(HD),
    word(9),
    set(WIN),
    // q/out base: (b·S·qDim + h·hd)·4; k/v base: (b·S·kvDim + (h / group)·hd)·4
    mul(add(mul(mul(get(B), get(S)), get(QD)), mul(get(HH), get(HD))), k32(4)),
    set(TMP),
    add(word(0), get(TMP)),
    set(QB),
    add(word(3), get(TMP)),
    set(OB),
    mul(add(mul(mul(get(B), get(S)), get(KVD)), mul(cat(get(HH), word(8), op.i32DivU()), get(HD))), k32(4)),
    set(TMP),
    add(word(1), get(TMP)),
    set(KB),
    add(word(2), get(TMP)),
    set(VB),
    // Scratch: QT [hd][4] f32, RG [2][4] i32, S4 [S][4] f32, EB [S][4] f64, PB [S][4] f32.
    get(SCR),
    set(QT),
    add(get(QT), mul(get(HD), k32(16))),
    set(RG),
    add(get(RG), k32(32)),
    set(S4),
    add(get(S4), mul(get(S), k32(16))),
    set(EB),
    add(get(EB), mul(get(S), k32(32))),
    set(PB),
    forRange(
      I0,
      k32(0),
      get(S),
      cat(
        min(add(get(I0), k32(3)), add(get(S), k32(-1))),
        set(LAST),
        rangeStart(get(I0)),
        set(A0),
        // Lane l: query il = min(i0 + l, last) → QT[·][l], RG[0][l] = its first key, RG[1][l] = il.
        forRange(
          LANE,
          k32(0),
          k32(4),
          cat(
            min(add(get(I0), get(LANE)), get(LAST)),
            set(IL),
            add(get(RG), mul(get(LANE), k32(4))),
            rangeStart(get(IL)),
            op.i32Store(0),
            add(get(RG), mul(get(LANE), k32(4))),
            get(IL),
            op.i32Store(16),
            add(get(QB), mul(mul(get(IL), get(QD)), k32(4))),
            set(PTR),
            add(get(QT), mul(get(LANE), k32(4))),
            set(PTR2),
            forRange(
              D,
              k32(0),
              get(HD),
              cat(
                get(PTR2),
                get(PTR),
                op.f32Load(0),
                op.f32Store(0),
                add(get(PTR), k32(4)),
                set(PTR),
                add(get(PTR2), k32(16)),
                set(PTR2),
              ),
            ),
          ),
        ),
        get(RG),
        op.v128Load(0),
        set(RA),
        get(RG),
        op.v128Load(16),
        set(RP),
        op.v128ConstF32x4(Number.NEGATIVE_INFINITY),
        set(MX),
        scores,
        get(MX),
        op.f64x2PromoteLowF32x4(),
        set(MXL),
        get(MX),
        get(MX),
        op.i8x16Shuffle(HIGH_TO_LOW),
        op.f64x2PromoteLowF32x4(),
        set(MXH),
        op.v128Const0(),
        set(ZL),
        op.v128Const0(),
        set(ZH),
        expLoop,
        probLoop,
        pv,
        add(get(I0), k32(3)),
        set(I0),
      ),
    ),
  );
  return { name: "attn", params: [I32, I32, I32, I32], results: [], locals, body };
}
