/**
 * An experimental ComputeBackend on onnxruntime-node (MLAS): matmulTransB as one ONNX Gemm
 * (transB = 1) per shape, the Gram matrix as Gemm(transA = 1) on 256-row chunks summed in float32
 * and added into the float64 accumulator (the chunking of the wasm backend). Evaluation only.
 */
import { type ComputeBackend, checkMatmulShapes, type MatmulOptions } from "@mama-prune/core";
import { gemmModel } from "./onnx-proto.ts";

/** The part of onnxruntime-node's API used here. */
export interface OrtTensor {
  readonly data: unknown;
  dispose?(): void;
}
export interface OrtSession {
  run(
    feeds: Record<string, OrtTensor>,
    fetches?: Record<string, OrtTensor | null>,
  ): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
export interface Ort {
  Tensor: new (type: "float32", data: Float32Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: {
    create(model: Uint8Array, options: Record<string, unknown>): Promise<OrtSession>;
  };
}

/** Where the weights go: graph inputs (one session per shape) or baked initializers (one per weight). */
export type WeightMode = "input" | "initializer";

export interface OrtBackendOptions {
  readonly threads: number;
  readonly weights?: WeightMode;
}

const GRAM_ROW_CHUNK = 256;

export class OrtBackend implements ComputeBackend {
  readonly name: string;
  private readonly sessions = new Map<string, Promise<OrtSession>>();
  private weightSessions = new WeakMap<Float32Array, { key: string; session: Promise<OrtSession> }>();
  private readonly live = new Set<Promise<OrtSession>>();
  private readonly mode: WeightMode;
  private chain: Promise<unknown> = Promise.resolve();

  private readonly ort: Ort;
  private readonly options: OrtBackendOptions;

  constructor(ort: Ort, options: OrtBackendOptions) {
    this.ort = ort;
    this.options = options;
    this.mode = options.weights ?? "input";
    this.name = `onnxruntime x${options.threads}${this.mode === "initializer" ? " (init)" : ""}`;
  }

  private create(bytes: Uint8Array): Promise<OrtSession> {
    const s = this.ort.InferenceSession.create(bytes, {
      intraOpNumThreads: this.options.threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
    });
    this.live.add(s);
    return s;
  }

  private session(key: string, build: () => Uint8Array): Promise<OrtSession> {
    let s = this.sessions.get(key);
    if (!s) {
      s = this.create(build());
      this.sessions.set(key, s);
    }
    return s;
  }

  /** Serialize calls (the backend contract lets callers interleave; keep them in order). */
  private serial<T>(f: () => Promise<T>): Promise<T> {
    const r = this.chain.then(f, f);
    this.chain = r.catch(() => undefined);
    return r;
  }

  matmulTransB(
    x: Float32Array,
    w: Float32Array,
    m: number,
    k: number,
    n: number,
    options?: MatmulOptions,
  ): Promise<Float32Array> {
    checkMatmulShapes("onnxruntime matmulTransB", x, w, m, k, n, options);
    return this.serial(async () => {
      const out = options?.out ?? new Float32Array(m * n);
      if (m === 0 || n === 0) return out;
      if (k === 0) {
        out.fill(0);
        if (options?.bias) for (let i = 0; i < m; i++) out.set(options.bias, i * n);
        return out;
      }
      const bias = options?.bias;
      const T = this.ort.Tensor;
      const feeds: Record<string, OrtTensor> = { A: new T("float32", x, [m, k]) };
      if (bias) feeds.C = new T("float32", bias, [n]);
      let session: Promise<OrtSession>;
      const c = bias ? { c: { name: "C", dims: [n] } } : {};
      if (this.mode === "input") {
        session = this.session(`mm ${k} ${n} ${bias ? 1 : 0}`, () =>
          gemmModel({
            a: { name: "A", dims: ["M", k] },
            b: { name: "B", dims: [n, k] },
            ...c,
            y: { name: "Y", dims: ["M", n] },
            transB: 1,
          }),
        );
        feeds.B = new T("float32", w, [n, k]);
      } else {
        const key = `${k} ${n} ${bias ? 1 : 0}`;
        let e = this.weightSessions.get(w);
        if (!e || e.key !== key) {
          if (e) this.drop(e.session);
          e = {
            key,
            session: this.create(
              gemmModel({
                a: { name: "A", dims: ["M", k] },
                b: { name: "B", dims: [n, k], data: w },
                ...c,
                y: { name: "Y", dims: ["M", n] },
                transB: 1,
              }),
            ),
          };
          this.weightSessions.set(w, e);
        }
        session = e.session;
      }
      const r = await (await session).run(feeds, { Y: new T("float32", out, [m, n]) });
      const y = r.Y?.data as Float32Array;
      if (y !== out) out.set(y);
      return out;
    });
  }

  gramAccumulate(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void> {
    if (x.length !== m * k)
      throw new RangeError(`onnxruntime gramAccumulate: x has ${x.length} elements, expected ${m * k}`);
    if (acc.length !== k * k)
      throw new RangeError(`onnxruntime gramAccumulate: acc has ${acc.length} elements, expected ${k * k}`);
    return this.serial(async () => {
      if (m === 0 || k === 0) return;
      const session = await this.session(`gram ${k}`, () =>
        gemmModel({
          a: { name: "X", dims: ["M", k] },
          b: { name: "X", dims: ["M", k] },
          y: { name: "G", dims: [k, k] },
          transA: 1,
        }),
      );
      const g = new Float32Array(k * k);
      const T = this.ort.Tensor;
      for (let i0 = 0; i0 < m; i0 += GRAM_ROW_CHUNK) {
        const mc = Math.min(GRAM_ROW_CHUNK, m - i0);
        await session.run(
          { X: new T("float32", x.subarray(i0 * k, (i0 + mc) * k), [mc, k]) },
          { G: new T("float32", g, [k, k]) },
        );
        for (let i = 0; i < k * k; i++) acc[i] = (acc[i] as number) + (g[i] as number);
      }
    });
  }

  async colSqNormAccumulate(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void> {
    for (let i = 0; i < m; i++) {
      const o = i * k;
      for (let j = 0; j < k; j++) {
        const v = x[o + j] as number;
        acc[j] = (acc[j] as number) + v * v;
      }
    }
  }

  private drop(s: Promise<OrtSession>): void {
    this.live.delete(s);
    void s.then((x) => x.release()).catch(() => undefined);
  }

  invalidate(weight: Float32Array): void {
    const e = this.weightSessions.get(weight);
    if (e) {
      this.weightSessions.delete(weight);
      this.drop(e.session);
    }
  }

  async dispose(): Promise<void> {
    await this.chain;
    const all = [...this.live];
    this.live.clear();
    this.sessions.clear();
    this.weightSessions = new WeakMap();
    await Promise.all(all.map((s) => s.then((x) => x.release()).catch(() => undefined)));
  }
}
