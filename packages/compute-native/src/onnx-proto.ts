/**
 * A tiny protobuf writer for the one-node ONNX models of this backend (`Y = Gemm(A, B[, C])`), so no
 * ONNX tooling is needed at build or run time. Field numbers from onnx/onnx.proto (public):
 * ModelProto{ir_version=1, producer_name=2, graph=7, opset_import=8}, OperatorSetIdProto{domain=1,
 * version=2}, GraphProto{node=1, name=2, input=11, output=12}, NodeProto{input=1, output=2, name=3,
 * op_type=4, attribute=5}, AttributeProto{name=1, i=3, type=20 (INT=2)}, ValueInfoProto{name=1,
 * type=2}, TypeProto{tensor_type=1}, TypeProto.Tensor{elem_type=1 (FLOAT=1), shape=2},
 * TensorShapeProto{dim=1}, Dimension{dim_value=1, dim_param=2}.
 */

const enc = new TextEncoder();

/** A protobuf message under construction: a list of byte chunks. */
class Msg {
  readonly parts: Uint8Array[] = [];
  size = 0;
  private push(b: Uint8Array): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }
  private varint(v: number): this {
    const out: number[] = [];
    // Non-negative integers below 2^53 only (enough for tags, lengths, dims and small ints).
    let x = v;
    while (x >= 0x80) {
      out.push((x % 0x80) | 0x80);
      x = Math.floor(x / 0x80);
    }
    out.push(x);
    return this.push(Uint8Array.from(out));
  }
  int(field: number, v: number): this {
    if (!Number.isSafeInteger(v) || v < 0)
      throw new RangeError(`onnx-proto: field ${field} needs a non-negative safe integer, got ${v}`);
    return this.varint(field * 8).varint(v);
  }
  bytes(field: number, b: Uint8Array): this {
    return this.varint(field * 8 + 2)
      .varint(b.length)
      .push(b);
  }
  str(field: number, s: string): this {
    return this.bytes(field, enc.encode(s));
  }
  msg(field: number, m: Msg): this {
    this.varint(field * 8 + 2).varint(m.size);
    for (const p of m.parts) this.push(p);
    return this;
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

/** A dimension: a fixed size or a symbolic name (any size, fixed per call). */
export type Dim = number | string;

/** A float32 graph input or output. */
export interface GemmValue {
  readonly name: string;
  readonly dims: readonly Dim[];
}

/** Options of {@link gemmModel}. */
export interface GemmModelOptions {
  /** A [M, K] (or [K, M] with transA). */
  readonly a: GemmValue;
  /** B [K, N] (or [N, K] with transB); the same name as A makes one input serve both (e.g. xᵀx). */
  readonly b: GemmValue;
  /** Optional C, broadcast to Y (a bias [N]). */
  readonly c?: GemmValue;
  readonly y: GemmValue;
  readonly transA?: 0 | 1;
  readonly transB?: 0 | 1;
}

function valueInfo(v: GemmValue): Msg {
  const shape = new Msg();
  for (const d of v.dims) shape.msg(1, typeof d === "number" ? new Msg().int(1, d) : new Msg().str(2, d));
  const tensorType = new Msg().int(1, 1).msg(2, shape); // elem_type FLOAT
  return new Msg().str(1, v.name).msg(2, new Msg().msg(1, tensorType));
}

const intAttr = (name: string, v: number): Msg => new Msg().str(1, name).int(3, v).int(20, 2);

/**
 * The bytes of a one-node ONNX model `Y = Gemm(A, B[, C])` (IR 8, opset 13), float32 throughout,
 * every operand a graph input (no initializers: the weights are fed on each run).
 *
 * @example
 * const bytes = gemmModel({
 *   a: { name: "A", dims: ["M", 64] },
 *   b: { name: "B", dims: [128, 64] },
 *   y: { name: "Y", dims: ["M", 128] },
 *   transB: 1,
 * });
 * bytes[0]; // 0x08: field 1 (ir_version), varint
 */
export function gemmModel(o: GemmModelOptions): Uint8Array {
  const node = new Msg().str(1, o.a.name).str(1, o.b.name);
  if (o.c) node.str(1, o.c.name);
  node.str(2, o.y.name).str(3, "gemm").str(4, "Gemm");
  node.msg(5, intAttr("transA", o.transA ?? 0)).msg(5, intAttr("transB", o.transB ?? 0));
  const graph = new Msg().msg(1, node).str(2, "g");
  const inputs: GemmValue[] = [o.a];
  if (o.b.name !== o.a.name) inputs.push(o.b);
  if (o.c) inputs.push(o.c);
  for (const i of inputs) graph.msg(11, valueInfo(i));
  graph.msg(12, valueInfo(o.y));
  return new Msg()
    .int(1, 8)
    .str(2, "mama-prune")
    .msg(7, graph)
    .msg(8, new Msg().str(1, "").int(2, 13))
    .finish();
}
