// The column square-norm kernel `colsq` (see ../kernels.ts for its contract).

import { type FunctionDef, I32, op, V128 } from "../wasm-encoder.ts";
import { cat, HIGH_HALF } from "./common.ts";

/** The `colsq` function: acc[j] += Σ_i x[i, j]² in float64. */
export function colsqKernel(): FunctionDef {
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
