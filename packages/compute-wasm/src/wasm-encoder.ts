/**
 * A minimal WebAssembly binary encoder: just enough of the format (types, one imported memory,
 * functions, exports, code) and of the instruction set (i32 arithmetic, structured control flow,
 * 128-bit SIMD loads/stores/arithmetic) to emit the kernels of this package from TypeScript.
 * Keeping the assembler in the repository avoids a build-time dependency on `wabt`: the module
 * bytes are produced at load time in a few microseconds, identically in Node, Deno and browsers.
 *
 * Reference: WebAssembly Core Specification 2.0, §5 (binary format) and the SIMD proposal's
 * opcode table (prefix 0xFD, LEB128 sub-opcodes).
 */

// ---- LEB128 ----

/**
 * Unsigned LEB128 encoding of a non-negative integer below 2³².
 *
 * @throws RangeError when `value` is not an integer in [0, 2³²).
 * @example
 * encodeU32(624485); // [0xe5, 0x8e, 0x26]
 */
export function encodeU32(value: number): number[] {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`encodeU32: value must be an integer in [0, 2^32), got ${value}`);
  }
  const out: number[] = [];
  let v = value;
  do {
    let byte = v % 128;
    v = Math.floor(v / 128);
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

/**
 * Signed LEB128 encoding of a 32-bit integer.
 *
 * @throws RangeError when `value` is not an integer in [-2³¹, 2³¹).
 * @example
 * encodeI32(-123456); // [0xc0, 0xbb, 0x78]
 */
export function encodeI32(value: number): number[] {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) {
    throw new RangeError(`encodeI32: value must be an integer in [-2^31, 2^31), got ${value}`);
  }
  const out: number[] = [];
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const signBit = (byte & 0x40) !== 0;
    if ((v === 0 && !signBit) || (v === -1 && signBit)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

// ---- Types ----

/** Value types used by the kernels. */
export const I32 = 0x7f;
/** 64-bit float value type. */
export const F64 = 0x7c;
/** 32-bit float value type. */
export const F32 = 0x7d;
/** 128-bit SIMD value type. */
export const V128 = 0x7b;

/** A WebAssembly value type byte (i32, f64 or v128). */
export type ValType = typeof I32 | typeof F32 | typeof F64 | typeof V128;

// ---- Instructions ----

const simd = (sub: number): number[] => [0xfd, ...encodeU32(sub)];
const memarg = (alignLog2: number, offset: number): number[] => [
  ...encodeU32(alignLog2),
  ...encodeU32(offset),
];

/**
 * Instruction encoders. Each returns the bytes of one instruction; a function body is the
 * concatenation of these arrays. Only the instructions the kernels use are defined.
 *
 * @example
 * const body = [...op.localGet(0), ...op.localGet(1), ...op.i32Add()];
 */
export const op: {
  readonly block: () => number[];
  readonly loop: () => number[];
  readonly if: () => number[];
  readonly else: () => number[];
  readonly end: () => number[];
  readonly br: (depth: number) => number[];
  readonly brIf: (depth: number) => number[];
  readonly localGet: (i: number) => number[];
  readonly localSet: (i: number) => number[];
  readonly localTee: (i: number) => number[];
  readonly i32Const: (v: number) => number[];
  readonly i32Add: () => number[];
  readonly i32Sub: () => number[];
  readonly i32Mul: () => number[];
  readonly i32Shl: () => number[];
  readonly i32Eqz: () => number[];
  readonly i32Ne: () => number[];
  readonly i32LtU: () => number[];
  readonly i32GtU: () => number[];
  readonly select: () => number[];
  readonly f64Load: (offset?: number) => number[];
  readonly f64Store: (offset?: number) => number[];
  readonly f32Load: (offset?: number) => number[];
  readonly f64PromoteF32: () => number[];
  readonly f64Add: () => number[];
  readonly f64Mul: () => number[];
  readonly v128Load: (offset?: number) => number[];
  readonly v128Store: (offset?: number) => number[];
  readonly v128Load32Splat: (offset?: number) => number[];
  readonly v128Const0: () => number[];
  readonly i8x16Shuffle: (lanes: readonly number[]) => number[];
  readonly f32x4Add: () => number[];
  readonly f32x4Mul: () => number[];
  readonly f64x2Add: () => number[];
  readonly f64x2Mul: () => number[];
  readonly f64x2PromoteLowF32x4: () => number[];
  readonly i32Load: (offset?: number) => number[];
  readonly i32Store: (offset?: number) => number[];
  readonly i32DivU: () => number[];
  readonly i32Eq: () => number[];
  readonly i32LtS: () => number[];
  readonly i32GeS: () => number[];
  readonly i32GtS: () => number[];
  readonly i32TruncF64S: () => number[];
  readonly i64Const: (v: number) => number[];
  readonly i64ExtendI32S: () => number[];
  readonly i64Shl: () => number[];
  readonly f32Store: (offset?: number) => number[];
  readonly f32Const: (v: number) => number[];
  readonly f32Gt: () => number[];
  readonly f32DemoteF64: () => number[];
  readonly f64Const: (v: number) => number[];
  readonly f64Abs: () => number[];
  readonly f64Sub: () => number[];
  readonly f64Div: () => number[];
  readonly f64Eq: () => number[];
  readonly f64Ne: () => number[];
  readonly f64Lt: () => number[];
  readonly f64Gt: () => number[];
  readonly f64Ge: () => number[];
  readonly f64ConvertI32S: () => number[];
  readonly f64ReinterpretI64: () => number[];
  readonly v128ConstF64x2: (a: number, b?: number) => number[];
  readonly v128ConstF32x4: (v: number) => number[];
  readonly v128ConstI64x2: (v: number) => number[];
  readonly i32x4Splat: () => number[];
  readonly i32x4LeS: () => number[];
  readonly i32x4GeS: () => number[];
  readonly f64x2Lt: () => number[];
  readonly f64x2Eq: () => number[];
  readonly v128And: () => number[];
  readonly v128Bitselect: () => number[];
  readonly f32x4DemoteF64x2Zero: () => number[];
  readonly f64x2Trunc: () => number[];
  readonly f64x2Abs: () => number[];
  readonly f64x2Sub: () => number[];
  readonly f64x2Div: () => number[];
  readonly f32x4Pmax: () => number[];
  readonly i32x4TruncSatF64x2SZero: () => number[];
  readonly i64x2ExtendLowI32x4S: () => number[];
  readonly i64x2ExtendHighI32x4S: () => number[];
  readonly i64x2Shl: () => number[];
  readonly i64x2Add: () => number[];
  readonly f64x2Splat: () => number[];
  readonly f64x2ExtractLane: (lane: 0 | 1) => number[];
  readonly v128Load64Splat: (offset?: number) => number[];
} = {
  block: () => [0x02, 0x40],
  loop: () => [0x03, 0x40],
  if: () => [0x04, 0x40],
  else: () => [0x05],
  end: () => [0x0b],
  br: (depth) => [0x0c, ...encodeU32(depth)],
  brIf: (depth) => [0x0d, ...encodeU32(depth)],
  localGet: (i) => [0x20, ...encodeU32(i)],
  localSet: (i) => [0x21, ...encodeU32(i)],
  localTee: (i) => [0x22, ...encodeU32(i)],
  i32Const: (v) => [0x41, ...encodeI32(v)],
  i32Add: () => [0x6a],
  i32Sub: () => [0x6b],
  i32Mul: () => [0x6c],
  i32Shl: () => [0x74],
  i32Eqz: () => [0x45],
  i32Ne: () => [0x47],
  i32LtU: () => [0x49],
  i32GtU: () => [0x4b],
  select: () => [0x1b],
  f64Load: (offset = 0) => [0x2b, ...memarg(3, offset)],
  f64Store: (offset = 0) => [0x39, ...memarg(3, offset)],
  f32Load: (offset = 0) => [0x2a, ...memarg(2, offset)],
  f64PromoteF32: () => [0xbb],
  f64Add: () => [0xa0],
  f64Mul: () => [0xa2],
  v128Load: (offset = 0) => [...simd(0x00), ...memarg(4, offset)],
  v128Store: (offset = 0) => [...simd(0x0b), ...memarg(4, offset)],
  v128Load32Splat: (offset = 0) => [...simd(0x09), ...memarg(2, offset)],
  v128Const0: () => [...simd(0x0c), ...new Array<number>(16).fill(0)],
  i8x16Shuffle: (lanes) => {
    if (lanes.length !== 16 || lanes.some((l) => !Number.isInteger(l) || l < 0 || l > 31)) {
      throw new RangeError("i8x16Shuffle: expected 16 lane indices in [0, 31]");
    }
    return [...simd(0x0d), ...lanes];
  },
  f32x4Add: () => simd(0xe4),
  f32x4Mul: () => simd(0xe6),
  f64x2Add: () => simd(0xf0),
  f64x2Mul: () => simd(0xf2),
  f64x2PromoteLowF32x4: () => simd(0x5f),
  i32Load: (offset = 0) => [0x28, ...memarg(2, offset)],
  i32Store: (offset = 0) => [0x36, ...memarg(2, offset)],
  i32DivU: () => [0x6e],
  i32Eq: () => [0x46],
  i32LtS: () => [0x48],
  i32GeS: () => [0x4e],
  i32GtS: () => [0x4a],
  i32TruncF64S: () => [0xaa],
  i64Const: (v) => [0x42, ...encodeI32(v)], // small constants only (the kernels shift by < 64)
  i64ExtendI32S: () => [0xac],
  i64Shl: () => [0x86],
  f32Store: (offset = 0) => [0x38, ...memarg(2, offset)],
  f32Const: (v) => [0x43, ...new Uint8Array(Float32Array.of(v).buffer)],
  f32Gt: () => [0x5e],
  f32DemoteF64: () => [0xb6],
  f64Const: (v) => [0x44, ...new Uint8Array(Float64Array.of(v).buffer)],
  f64Abs: () => [0x99],
  f64Sub: () => [0xa1],
  f64Div: () => [0xa3],
  f64Eq: () => [0x61],
  f64Ne: () => [0x62],
  f64Lt: () => [0x63],
  f64Gt: () => [0x64],
  f64Ge: () => [0x66],
  f64ConvertI32S: () => [0xb7],
  f64ReinterpretI64: () => [0xbf],
  // v128.const lanes are little-endian, as wasm memory (and every JS engine's typed arrays) are.
  v128ConstF64x2: (a, b = a) => [...simd(0x0c), ...new Uint8Array(Float64Array.of(a, b).buffer)],
  v128ConstF32x4: (v) => [...simd(0x0c), ...new Uint8Array(Float32Array.of(v, v, v, v).buffer)],
  v128ConstI64x2: (v) => [...simd(0x0c), ...new Uint8Array(BigInt64Array.of(BigInt(v), BigInt(v)).buffer)],
  i32x4Splat: () => simd(0x11),
  i32x4LeS: () => simd(0x3d),
  i32x4GeS: () => simd(0x3f),
  f64x2Lt: () => simd(0x49),
  f64x2Eq: () => simd(0x47),
  v128And: () => simd(0x4e),
  v128Bitselect: () => simd(0x52),
  f32x4DemoteF64x2Zero: () => simd(0x5e),
  f64x2Trunc: () => simd(0x7a),
  f64x2Abs: () => simd(0xec),
  f64x2Sub: () => simd(0xf1),
  f64x2Div: () => simd(0xf3),
  f32x4Pmax: () => simd(0xeb),
  i32x4TruncSatF64x2SZero: () => simd(0xfc),
  i64x2ExtendLowI32x4S: () => simd(0xc7),
  i64x2ExtendHighI32x4S: () => simd(0xc8),
  i64x2Shl: () => simd(0xcb),
  i64x2Add: () => simd(0xce),
  f64x2Splat: () => simd(0x14),
  f64x2ExtractLane: (lane) => [...simd(0x21), lane],
  v128Load64Splat: (offset = 0) => [...simd(0x0a), ...memarg(3, offset)],
};

// ---- Module ----

/** One function of a module: its signature, extra locals and body (without the final `end`). */
export interface FunctionDef {
  /** Export name. */
  readonly name: string;
  /** Parameter types. */
  readonly params: readonly ValType[];
  /** Result types (the kernels return nothing). */
  readonly results: readonly ValType[];
  /** Types of the locals after the parameters. */
  readonly locals: readonly ValType[];
  /** Instruction bytes. */
  readonly body: readonly number[];
}

/** The module-level description accepted by {@link encodeModule}. */
export interface ModuleDef {
  /** Imported memory `env.memory`: initial and maximum size in 64 KiB pages, and whether shared. */
  readonly memory: { readonly minPages: number; readonly maxPages: number; readonly shared: boolean };
  /** Functions, all exported under their names. */
  readonly functions: readonly FunctionDef[];
}

const section = (id: number, payload: number[]): number[] => [id, ...encodeU32(payload.length), ...payload];
const vec = (items: number[][]): number[] => [...encodeU32(items.length), ...items.flat()];
const name = (s: string): number[] => {
  const bytes = Array.from(new TextEncoder().encode(s));
  return [...encodeU32(bytes.length), ...bytes];
};

/**
 * Encode a module with one imported memory (`env.memory`) and exported functions.
 *
 * @throws RangeError on malformed limits.
 * @example
 * const bytes = encodeModule({ memory: { minPages: 1, maxPages: 1, shared: false }, functions: [] });
 * WebAssembly.validate(bytes); // true
 */
export function encodeModule(def: ModuleDef): Uint8Array<ArrayBuffer> {
  const { minPages, maxPages, shared } = def.memory;
  if (!(minPages >= 0 && maxPages >= minPages && maxPages <= 65536)) {
    throw new RangeError(
      `encodeModule: memory limits must satisfy 0 <= min <= max <= 65536, got ${minPages}..${maxPages}`,
    );
  }
  const types = def.functions.map((f) => [
    0x60,
    ...vec(f.params.map((t) => [t])),
    ...vec(f.results.map((t) => [t])),
  ]);
  const imports = vec([
    [
      ...name("env"),
      ...name("memory"),
      0x02,
      shared ? 0x03 : 0x01,
      ...encodeU32(minPages),
      ...encodeU32(maxPages),
    ],
  ]);
  const funcs = vec(def.functions.map((_, i) => encodeU32(i)));
  const exports = vec(def.functions.map((f, i) => [...name(f.name), 0x00, ...encodeU32(i)]));
  const codes = vec(
    def.functions.map((f) => {
      // Locals are run-length encoded: consecutive equal types share one entry.
      const groups: number[][] = [];
      let i = 0;
      while (i < f.locals.length) {
        let j = i;
        while (j < f.locals.length && f.locals[j] === f.locals[i]) j++;
        groups.push([...encodeU32(j - i), f.locals[i] as number]);
        i = j;
      }
      const body = [...vec(groups), ...f.body, 0x0b];
      return [...encodeU32(body.length), ...body];
    }),
  );
  const bytes = [
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec(types)),
    ...section(2, imports),
    ...section(3, funcs),
    ...section(7, exports),
    ...section(10, codes),
  ];
  return new Uint8Array(bytes);
}
