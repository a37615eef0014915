// The matmul kernel `mm` (see ../kernels.ts for its contract): a 4×8 output tile in f32x4 accumulators.

import { type FunctionDef, I32, op, V128, type ValType } from "../wasm-encoder.ts";
import { cat } from "./common.ts";

/** The `mm` function: y tiles = x · wᵀ (+ bias) over packed operands, K walked in blocks of `kBlock`. */
export function mmKernel(kBlock: number, tm: number): FunctionDef {
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
