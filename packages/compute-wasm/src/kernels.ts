/**
 * The WebAssembly kernels of the backend, generated as bytes by the in-repo encoder.
 *
 * Exports of the generated module (all pointers are byte offsets into the imported memory):
 * - `mm(xp, wp, yp, bp, kPad, nPad, ib0, ib1, p0, p1)`: y tile rows [4·ib0, 4·ib1) × columns
 *   [8·p0, 8·p1) of y = x · wᵀ (+ bias) with x packed as 4-row blocks `[mPad/4][kPad][4]`, w packed as
 *   8-column panels `[nPad/8][kPad][8]`, y row-major `[mPad][nPad]`, bias `[nPad]` (bp = 0: none).
 *   A 4×8 output tile lives in eight f32x4 accumulators; K is walked in blocks of {@link K_BLOCK}
 *   (unrolled ×4), so each tile reads 4 splatted x values and two f32x4 of w per k.
 * - `acc64(g, s, ld, r0, r1, c0, c1)`: s[r, c] += f64(g[r, c]) on a rectangle of two row-major
 *   matrices with leading dimension `ld` (f32 source, f64 destination; c0, c1 multiples of 4).
 * - `colsq(x, acc, kPad, m)`: acc[j] += Σ_i x[i, j]² with the squares and the sums in float64
 *   (x rows padded to kPad floats, kPad a multiple of 4).
 * - `mirror64(s, ld, r0, r1, c0, c1)`: s[c, r] = s[r, c] on a rectangle of a row-major f64 matrix
 *   (writes the lower-triangle copy of an upper-triangle Gram block).
 */
import { encodeModule, type FunctionDef, I32, op, V128, type ValType } from "./wasm-encoder.ts";

/** Depth of one K block of the matmul kernel (floats); a multiple of 4. */
export const K_BLOCK = 256;
/** Rows of one output tile. */
export const TILE_M = 4;
/** Columns of one output tile (= width of a weight panel). */
export const TILE_N = 8;

const cat = (...parts: number[][]): number[] => parts.flat();

function mmKernel(kBlock: number, tm: number): FunctionDef {
  const xs = tm * 4; // bytes of packed x per k step
  // params
  const XP = 0,
    WP = 1,
    YP = 2,
    BP = 3,
    KPAD = 4,
    NPAD = 5,
    IB0 = 6,
    IB1 = 7,
    P0 = 8,
    P1 = 9;
  // i32 locals
  const KB = 10,
    KL = 11,
    P = 12,
    IB = 13,
    PX = 14,
    PW = 15,
    PEND = 16,
    PY = 17,
    YS = 18,
    PWB = 19,
    Q = 20;
  // v128 locals
  const ACC = 21; // 2·tm accumulators: ACC + 2·r + h
  const W0 = ACC + 2 * tm,
    W1 = W0 + 1,
    A = W0 + 2;
  const acc = (r: number, h: number): number => ACC + 2 * r + h;
  const locals: ValType[] = [
    ...new Array<ValType>(11).fill(I32),
    ...new Array<ValType>(2 * tm + 3).fill(V128),
  ];

  const setAccFrom = (src: (r: number, h: number) => number[]): number[] => {
    const out: number[] = [];
    for (let r = 0; r < tm; r++)
      for (let h = 0; h < 2; h++) out.push(...src(r, h), ...op.localSet(acc(r, h)));
    return out;
  };

  // Initial accumulators of a tile: bias (first K block, bp != 0), zero (first block, no bias),
  // or the partial sums stored in y by the previous K block.
  const init = cat(
    op.localGet(KB),
    op.i32Eqz(),
    op.if(),
    op.localGet(BP),
    op.if(),
    setAccFrom((_r, h) =>
      cat(op.localGet(BP), op.localGet(P), op.i32Const(5), op.i32Shl(), op.i32Add(), op.v128Load(h * 16)),
    ),
    op.else(),
    setAccFrom(() => op.v128Const0()),
    op.end(),
    op.else(),
    op.localGet(PY),
    op.localSet(Q),
    ...Array.from({ length: tm }, (_, r) =>
      cat(
        op.localGet(Q),
        op.v128Load(0),
        op.localSet(acc(r, 0)),
        op.localGet(Q),
        op.v128Load(16),
        op.localSet(acc(r, 1)),
        r < tm - 1 ? cat(op.localGet(Q), op.localGet(YS), op.i32Add(), op.localSet(Q)) : [],
      ),
    ),
    op.end(),
  );

  // One k step (u-th of the ×4 unroll): two f32x4 of the panel, four splats of x.
  const kStep = (u: number): number[] => {
    const out = cat(
      op.localGet(PW),
      op.v128Load(u * 32),
      op.localSet(W0),
      op.localGet(PW),
      op.v128Load(u * 32 + 16),
      op.localSet(W1),
    );
    for (let r = 0; r < tm; r++) {
      out.push(
        ...op.localGet(PX),
        ...op.v128Load32Splat(u * xs + r * 4),
        ...op.localSet(A),
        ...op.localGet(acc(r, 0)),
        ...op.localGet(A),
        ...op.localGet(W0),
        ...op.f32x4Mul(),
        ...op.f32x4Add(),
        ...op.localSet(acc(r, 0)),
        ...op.localGet(acc(r, 1)),
        ...op.localGet(A),
        ...op.localGet(W1),
        ...op.f32x4Mul(),
        ...op.f32x4Add(),
        ...op.localSet(acc(r, 1)),
      );
    }
    return out;
  };

  const store = cat(
    op.localGet(PY),
    op.localSet(Q),
    ...Array.from({ length: tm }, (_, r) =>
      cat(
        op.localGet(Q),
        op.localGet(acc(r, 0)),
        op.v128Store(0),
        op.localGet(Q),
        op.localGet(acc(r, 1)),
        op.v128Store(16),
        r < tm - 1 ? cat(op.localGet(Q), op.localGet(YS), op.i32Add(), op.localSet(Q)) : [],
      ),
    ),
  );

  const body = cat(
    // ys = nPad · 4 (bytes per y row); kb = 0
    op.localGet(NPAD),
    op.i32Const(2),
    op.i32Shl(),
    op.localSet(YS),
    op.i32Const(0),
    op.localSet(KB),
    op.block(), // $done
    op.loop(), // $kb
    // if !(kb < kPad) break
    op.localGet(KB),
    op.localGet(KPAD),
    op.i32LtU(),
    op.i32Eqz(),
    op.brIf(1),
    // kl = min(kBlock, kPad - kb)
    op.i32Const(kBlock),
    op.localGet(KPAD),
    op.localGet(KB),
    op.i32Sub(),
    op.localTee(KL),
    op.localGet(KL),
    op.i32Const(kBlock),
    op.i32GtU(),
    op.select(),
    op.localSet(KL),
    op.localGet(P0),
    op.localSet(P),
    op.loop(), // $p
    // pwb = wp + (p·kPad + kb)·32
    op.localGet(WP),
    op.localGet(P),
    op.localGet(KPAD),
    op.i32Mul(),
    op.localGet(KB),
    op.i32Add(),
    op.i32Const(5),
    op.i32Shl(),
    op.i32Add(),
    op.localSet(PWB),
    op.localGet(IB0),
    op.localSet(IB),
    op.loop(), // $ib
    // px = xp + (ib·kPad + kb)·xs
    op.localGet(XP),
    op.localGet(IB),
    op.localGet(KPAD),
    op.i32Mul(),
    op.localGet(KB),
    op.i32Add(),
    op.i32Const(xs),
    op.i32Mul(),
    op.i32Add(),
    op.localSet(PX),
    // py = yp + ib·tm·ys + p·32
    op.localGet(YP),
    op.localGet(IB),
    op.localGet(YS),
    op.i32Mul(),
    op.i32Const(tm),
    op.i32Mul(),
    op.i32Add(),
    op.localGet(P),
    op.i32Const(5),
    op.i32Shl(),
    op.i32Add(),
    op.localSet(PY),
    op.localGet(PWB),
    op.localSet(PW),
    init,
    // pend = px + kl·xs
    op.localGet(PX),
    op.localGet(KL),
    op.i32Const(xs),
    op.i32Mul(),
    op.i32Add(),
    op.localSet(PEND),
    op.loop(), // $k
    kStep(0),
    kStep(1),
    kStep(2),
    kStep(3),
    op.localGet(PX),
    op.i32Const(4 * xs),
    op.i32Add(),
    op.localSet(PX),
    op.localGet(PW),
    op.i32Const(128),
    op.i32Add(),
    op.localSet(PW),
    op.localGet(PX),
    op.localGet(PEND),
    op.i32Ne(),
    op.brIf(0),
    op.end(), // $k
    store,
    // ib += 1; continue while ib != ib1
    op.localGet(IB),
    op.i32Const(1),
    op.i32Add(),
    op.localTee(IB),
    op.localGet(IB1),
    op.i32Ne(),
    op.brIf(0),
    op.end(), // $ib
    op.localGet(P),
    op.i32Const(1),
    op.i32Add(),
    op.localTee(P),
    op.localGet(P1),
    op.i32Ne(),
    op.brIf(0),
    op.end(), // $p
    op.localGet(KB),
    op.i32Const(kBlock),
    op.i32Add(),
    op.localSet(KB),
    op.br(0),
    op.end(), // $kb
    op.end(), // $done
  );
  return {
    name: "mm",
    params: new Array<ValType>(10).fill(I32),
    results: [],
    locals,
    body,
  };
}

// Shuffle moving lanes 2, 3 (bytes 8..15) of an f32x4 into lanes 0, 1.
const HIGH_HALF = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15] as const;

function acc64Kernel(): FunctionDef {
  const G = 0,
    S = 1,
    LD = 2,
    R0 = 3,
    R1 = 4,
    C0 = 5,
    C1 = 6;
  const R = 7,
    PG = 8,
    PS = 9,
    PGEND = 10,
    V = 11;
  const body = cat(
    op.localGet(R0),
    op.localSet(R),
    op.block(),
    op.loop(), // $r
    op.localGet(R),
    op.localGet(R1),
    op.i32LtU(),
    op.i32Eqz(),
    op.brIf(1),
    // pg = g + (r·ld + c0)·4; ps = s + (r·ld + c0)·8; pgEnd = g + (r·ld + c1)·4
    op.localGet(R),
    op.localGet(LD),
    op.i32Mul(),
    op.localTee(PS), // temp: r·ld
    op.localGet(C1),
    op.i32Add(),
    op.i32Const(2),
    op.i32Shl(),
    op.localGet(G),
    op.i32Add(),
    op.localSet(PGEND),
    op.localGet(PS),
    op.localGet(C0),
    op.i32Add(),
    op.localTee(PG), // temp: r·ld + c0
    op.i32Const(3),
    op.i32Shl(),
    op.localGet(S),
    op.i32Add(),
    op.localSet(PS),
    op.localGet(PG),
    op.i32Const(2),
    op.i32Shl(),
    op.localGet(G),
    op.i32Add(),
    op.localSet(PG),
    op.block(),
    op.localGet(PG),
    op.localGet(PGEND),
    op.i32LtU(),
    op.i32Eqz(),
    op.brIf(0),
    op.loop(), // $c
    op.localGet(PG),
    op.v128Load(0),
    op.localSet(V),
    op.localGet(PS),
    op.localGet(PS),
    op.v128Load(0),
    op.localGet(V),
    op.f64x2PromoteLowF32x4(),
    op.f64x2Add(),
    op.v128Store(0),
    op.localGet(PS),
    op.localGet(PS),
    op.v128Load(16),
    op.localGet(V),
    op.localGet(V),
    op.i8x16Shuffle(HIGH_HALF),
    op.f64x2PromoteLowF32x4(),
    op.f64x2Add(),
    op.v128Store(16),
    op.localGet(PS),
    op.i32Const(32),
    op.i32Add(),
    op.localSet(PS),
    op.localGet(PG),
    op.i32Const(16),
    op.i32Add(),
    op.localTee(PG),
    op.localGet(PGEND),
    op.i32Ne(),
    op.brIf(0),
    op.end(), // $c
    op.end(),
    op.localGet(R),
    op.i32Const(1),
    op.i32Add(),
    op.localSet(R),
    op.br(0),
    op.end(), // $r
    op.end(),
  );
  return {
    name: "acc64",
    params: new Array<ValType>(7).fill(I32),
    results: [],
    locals: [I32, I32, I32, I32, V128],
    body,
  };
}

function mirrorKernel(): FunctionDef {
  // s[c, r] = s[r, c] for r in [r0, r1), c in [c0, c1) of a row-major f64 matrix (leading dim ld).
  const S = 0,
    LD = 1,
    R0 = 2,
    R1 = 3,
    C0 = 4,
    C1 = 5;
  const R = 6,
    C = 7,
    SRC = 8,
    DST = 9,
    LDB = 10;
  const body = cat(
    op.localGet(LD),
    op.i32Const(3),
    op.i32Shl(),
    op.localSet(LDB),
    op.localGet(R0),
    op.localSet(R),
    op.block(),
    op.localGet(C0),
    op.localGet(C1),
    op.i32LtU(),
    op.i32Eqz(),
    op.brIf(0),
    op.loop(), // $r
    op.localGet(R),
    op.localGet(R1),
    op.i32LtU(),
    op.i32Eqz(),
    op.brIf(1),
    // src = s + (r·ld + c0)·8; dst = s + (c0·ld + r)·8
    op.localGet(R),
    op.localGet(LD),
    op.i32Mul(),
    op.localGet(C0),
    op.i32Add(),
    op.i32Const(3),
    op.i32Shl(),
    op.localGet(S),
    op.i32Add(),
    op.localSet(SRC),
    op.localGet(C0),
    op.localGet(LD),
    op.i32Mul(),
    op.localGet(R),
    op.i32Add(),
    op.i32Const(3),
    op.i32Shl(),
    op.localGet(S),
    op.i32Add(),
    op.localSet(DST),
    op.localGet(C0),
    op.localSet(C),
    op.loop(), // $c
    op.localGet(DST),
    op.localGet(SRC),
    op.f64Load(0),
    op.f64Store(0),
    op.localGet(SRC),
    op.i32Const(8),
    op.i32Add(),
    op.localSet(SRC),
    op.localGet(DST),
    op.localGet(LDB),
    op.i32Add(),
    op.localSet(DST),
    op.localGet(C),
    op.i32Const(1),
    op.i32Add(),
    op.localTee(C),
    op.localGet(C1),
    op.i32Ne(),
    op.brIf(0),
    op.end(), // $c
    op.localGet(R),
    op.i32Const(1),
    op.i32Add(),
    op.localSet(R),
    op.br(0),
    op.end(), // $r
    op.end(),
  );
  return {
    name: "mirror64",
    params: new Array<ValType>(6).fill(I32),
    results: [],
    locals: [I32, I32, I32, I32, I32],
    body,
  };
}

function colsqKernel(): FunctionDef {
  const X = 0,
    ACCP = 1,
    KPAD = 2,
    M = 3;
  const I = 4,
    PX = 5,
    PA = 6,
    PAEND = 7,
    V = 8,
    D = 9;
  const sqAdd = (offset: number): number[] =>
    cat(
      op.localSet(D),
      op.localGet(PA),
      op.localGet(PA),
      op.v128Load(offset),
      op.localGet(D),
      op.localGet(D),
      op.f64x2Mul(),
      op.f64x2Add(),
      op.v128Store(offset),
    );
  const body = cat(
    op.localGet(X),
    op.localSet(PX),
    op.i32Const(0),
    op.localSet(I),
    // pAEnd = acc + kPad·8
    op.localGet(KPAD),
    op.i32Const(3),
    op.i32Shl(),
    op.localGet(ACCP),
    op.i32Add(),
    op.localSet(PAEND),
    op.block(),
    op.localGet(KPAD),
    op.i32Eqz(),
    op.brIf(0),
    op.loop(), // $i
    op.localGet(I),
    op.localGet(M),
    op.i32LtU(),
    op.i32Eqz(),
    op.brIf(1),
    op.localGet(ACCP),
    op.localSet(PA),
    op.loop(), // $j
    op.localGet(PX),
    op.v128Load(0),
    op.localTee(V),
    op.f64x2PromoteLowF32x4(),
    sqAdd(0),
    op.localGet(V),
    op.localGet(V),
    op.i8x16Shuffle(HIGH_HALF),
    op.f64x2PromoteLowF32x4(),
    sqAdd(16),
    op.localGet(PX),
    op.i32Const(16),
    op.i32Add(),
    op.localSet(PX),
    op.localGet(PA),
    op.i32Const(32),
    op.i32Add(),
    op.localTee(PA),
    op.localGet(PAEND),
    op.i32Ne(),
    op.brIf(0),
    op.end(), // $j
    op.localGet(I),
    op.i32Const(1),
    op.i32Add(),
    op.localSet(I),
    op.br(0),
    op.end(), // $i
    op.end(),
  );
  return {
    name: "colsq",
    params: [I32, I32, I32, I32],
    results: [],
    locals: [I32, I32, I32, I32, V128, V128],
    body,
  };
}

/** Options of {@link buildKernelModule}. */
export interface KernelModuleOptions {
  /** Import a shared memory (needed to share it with worker threads). */
  readonly shared: boolean;
  /** Maximum memory size in 64 KiB pages declared by the import (≤ 65536). */
  readonly maxPages: number;
  /** Depth of the matmul K block in floats (multiple of 4). Default {@link K_BLOCK}. */
  readonly kBlock?: number;
  /** Rows of the output tile (experimental; the backend packs x for 4). Default {@link TILE_M}. */
  readonly tileM?: number;
}

/**
 * Assemble the kernel module (`mm`, `acc64`, `colsq`; imports `env.memory`).
 *
 * @throws RangeError when `maxPages` is outside [1, 65536].
 * @example
 * const bytes = buildKernelModule({ shared: false, maxPages: 65536 });
 * WebAssembly.validate(bytes); // true where WebAssembly SIMD is supported
 */
export function buildKernelModule(options: KernelModuleOptions): Uint8Array<ArrayBuffer> {
  if (!Number.isInteger(options.maxPages) || options.maxPages < 1 || options.maxPages > 65536) {
    throw new RangeError(
      `buildKernelModule: maxPages must be an integer in [1, 65536], got ${options.maxPages}`,
    );
  }
  const kBlock = options.kBlock ?? K_BLOCK;
  if (!Number.isInteger(kBlock) || kBlock < 4 || kBlock % 4 !== 0 || kBlock > 1 << 20) {
    throw new RangeError(`buildKernelModule: kBlock must be a positive multiple of 4, got ${options.kBlock}`);
  }
  return encodeModule({
    memory: { minPages: 1, maxPages: options.maxPages, shared: options.shared },
    functions: [mmKernel(kBlock, options.tileM ?? TILE_M), acc64Kernel(), colsqKernel(), mirrorKernel()],
  });
}

/** The functions exported by the kernel module, as seen from JavaScript. */
export interface KernelExports {
  /** See the module documentation. */
  mm(
    xp: number,
    wp: number,
    yp: number,
    bp: number,
    kPad: number,
    nPad: number,
    ib0: number,
    ib1: number,
    p0: number,
    p1: number,
  ): void;
  /** s[r, c] += f64(g[r, c]) for r in [r0, r1), c in [c0, c1). */
  acc64(g: number, s: number, ld: number, r0: number, r1: number, c0: number, c1: number): void;
  /** acc[j] += Σ_i x[i, j]² (float64). */
  colsq(x: number, acc: number, kPad: number, m: number): void;
  /** s[c, r] = s[r, c] for r in [r0, r1), c in [c0, c1) (f64, leading dimension ld). */
  mirror64(s: number, ld: number, r0: number, r1: number, c0: number, c1: number): void;
}
