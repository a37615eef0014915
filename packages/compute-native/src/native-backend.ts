/**
 * A ComputeBackend whose large matmuls run on onnxruntime (MLAS on CPU) and everything else on a
 * delegate backend (the wasm one in `./node`). Runtime-neutral: the onnxruntime module is injected.
 */
import {
  type ComputeBackend,
  checkGramShapes,
  checkMatmulShapes,
  type GramOptions,
  type MatmulOptions,
  PruneError,
  transposeInto,
} from "@mama-prune/core";
import { type GemmModelOptions, gemmModel } from "./onnx-proto.ts";
import type { OrtModule, OrtSession, OrtTensor } from "./ort.ts";
import { type NativeGemmThreshold, resolveThreshold, usesNativeGemm, usesNativeGram } from "./threshold.ts";

/**
 * Rows of x per onnxruntime Gram product: within a chunk the sums are float32 over at most this many
 * terms (MLAS adds them in K blocks; the bound 4096·2⁻²⁴ ≈ 2.4e-4 of Σ|xᵢₐxᵢᵦ| is never approached:
 * measured ≤ 6.5e-7 on uniform, positive-mean and ReLU-like data, the same as with 2048), each chunk's
 * product is added in float64. 4096 is one chunk per call of the pipeline's batches (8 × 512 tokens):
 * the float64 folding in JavaScript costs about a third of the GEMM per chunk, so fewer chunks help
 * (2048 until 2026-12-07). The wasm wide path chunks 1024 rows. Scratch: k·4096 float32 (128 MiB at
 * k = 8192) per call.
 */
export const NATIVE_GRAM_CHUNK_ROWS = 4096;
/** Rows of the Gram's upper triangle per onnxruntime call (a block row of this many rows). */
const GRAM_BLOCK_ROWS = 512;

/** Options of {@link createOrtGemmBackend}. */
export interface OrtGemmBackendOptions {
  /** The onnxruntime module (e.g. `await import("onnxruntime-node")`). */
  readonly ort: OrtModule;
  /**
   * Runs every call below the threshold and every other operation (column norms, and the optional
   * attention and SwiGLU, offered exactly when the delegate has them). Owned by the new backend: its `dispose()` disposes the delegate too.
   */
  readonly delegate: ComputeBackend;
  /** onnxruntime's intra-op threads (the calling thread included). */
  readonly threads: number;
  /** Which matmuls run on onnxruntime (default {@link DEFAULT_NATIVE_GEMM_THRESHOLD}). */
  readonly threshold?: Partial<NativeGemmThreshold>;
  /**
   * Let onnxruntime's intra-op threads spin-wait after each call (its own default) instead of
   * sleeping. Default false: every session has its own thread pool (one per GEMM shape, dozens in a
   * SparseGPT factorisation), and spinning threads take the cores from the wasm delegate's workers,
   * the JavaScript thread and the other pools. Measured on one 1B block (2 cores, other work beside
   * it): SparseGPT's 2048-wide factor 460 → 100 ms, its OBS stage 25.0 → 12.3 s; Wanda unchanged.
   */
  readonly spinning?: boolean;
}

/** Counters of a {@link NativeBackend}. */
export interface NativeBackendStats {
  /** matmulTransB calls run on onnxruntime. */
  readonly nativeCalls: number;
  /** matmulTransB calls sent to the delegate (below the threshold). */
  readonly delegatedCalls: number;
  /** gramAccumulate calls run on onnxruntime (the rest went to the delegate). */
  readonly nativeGramCalls: number;
  /** onnxruntime sessions created (one per (k, n, bias) shape, and one for every Gram). */
  readonly sessions: number;
}

/** The backend of {@link createOrtGemmBackend}: a ComputeBackend with its routing exposed. */
export interface NativeBackend extends ComputeBackend {
  /** onnxruntime's intra-op threads. */
  readonly threads: number;
  /** The threshold in force. */
  readonly threshold: NativeGemmThreshold;
  /** The backend of everything below the threshold. */
  readonly delegate: ComputeBackend;
  stats(): NativeBackendStats;
  /** Release the sessions and dispose the delegate. Safe to call twice; later calls throw. */
  dispose(): Promise<void>;
}

const WHERE = "compute-native";

class OrtGemmBackend implements NativeBackend {
  readonly name: string;
  readonly threads: number;
  readonly threshold: NativeGemmThreshold;
  readonly delegate: ComputeBackend;
  private readonly ort: OrtModule;
  private readonly spinning: boolean;
  private readonly sessions = new Map<string, Promise<OrtSession>>();
  private chain: Promise<unknown> = Promise.resolve();
  private nativeCalls = 0;
  private delegatedCalls = 0;
  private nativeGramCalls = 0;
  private disposed = false;
  /** The delegate's fused attention, when it has one (the model's matmul path otherwise). */
  readonly causalAttentionWindows?: NonNullable<ComputeBackend["causalAttentionWindows"]>;
  /** The delegate's SwiGLU, when it has one (the model's own loop otherwise). */
  readonly swiglu?: NonNullable<ComputeBackend["swiglu"]>;
  /** The delegate's row max / sum of exp, when it has one (the caller's loops otherwise). */
  readonly rowMaxSumExp?: NonNullable<ComputeBackend["rowMaxSumExp"]>;

  constructor(o: OrtGemmBackendOptions) {
    if (!Number.isInteger(o.threads) || o.threads < 1 || o.threads > 256) {
      throw new RangeError(`${WHERE}: threads must be an integer in [1, 256], got ${String(o.threads)}`);
    }
    this.ort = o.ort;
    this.delegate = o.delegate;
    this.threads = o.threads;
    this.threshold = resolveThreshold(WHERE, o.threshold);
    if (o.spinning !== undefined && typeof o.spinning !== "boolean") {
      throw new RangeError(`${WHERE}: spinning must be a boolean, got ${String(o.spinning)}`);
    }
    this.spinning = o.spinning ?? false;
    this.name = `onnxruntime x${o.threads}${this.spinning ? " (spinning)" : ""} + ${o.delegate.name}`;

    const d = o.delegate;
    const attention = d.causalAttentionWindows;
    if (attention !== undefined) {
      this.causalAttentionWindows = async (q, k, v, out, batch, seqLen, heads) => {
        this.alive("causalAttentionWindows");
        return await attention.call(d, q, k, v, out, batch, seqLen, heads);
      };
    }
    const swiglu = d.swiglu;
    if (swiglu !== undefined) {
      this.swiglu = async (gate, up, out) => {
        this.alive("swiglu");
        await swiglu.call(d, gate, up, out);
      };
    }
    const rowMaxSumExp = d.rowMaxSumExp;
    if (rowMaxSumExp !== undefined) {
      this.rowMaxSumExp = async (y, rows, n, max, sum) => {
        this.alive("rowMaxSumExp");
        await rowMaxSumExp.call(d, y, rows, n, max, sum);
      };
    }
  }

  private alive(op: string): void {
    if (this.disposed) throw new RangeError(`${WHERE} ${op}: the backend was disposed`);
  }

  /** The session of `Y = Gemm(A, B, [C], transB = 1)` for one (k, n, bias) with a symbolic M. */
  private session(k: number, n: number, bias: boolean): Promise<OrtSession> {
    return this.cachedSession(`${k} ${n} ${bias ? 1 : 0}`, {
      a: { name: "A", dims: ["M", k] },
      b: { name: "B", dims: [n, k] },
      ...(bias ? { c: { name: "C", dims: [n] } } : {}),
      y: { name: "Y", dims: ["M", n] },
      transB: 1,
    });
  }

  /** The session of `Y = Gemm(A, B, transB = 1)` with every dimension symbolic (the Gram's block rows). */
  private gramSession(): Promise<OrtSession> {
    return this.cachedSession("gram", {
      a: { name: "A", dims: ["M", "K"] },
      b: { name: "B", dims: ["N", "K"] },
      y: { name: "Y", dims: ["M", "N"] },
      transB: 1,
    });
  }

  /** One session per key, created on first use with this backend's thread settings. */
  private cachedSession(key: string, model: GemmModelOptions): Promise<OrtSession> {
    let s = this.sessions.get(key);
    if (s === undefined) {
      s = this.ort.InferenceSession.create(gemmModel(model), {
        intraOpNumThreads: this.threads,
        interOpNumThreads: 1,
        executionMode: "sequential",
        graphOptimizationLevel: "all",
        extra: { session: { intra_op: { allow_spinning: this.spinning ? "1" : "0" } } },
      });
      this.sessions.set(key, s);
      // A failed creation is not cached: the next call tries again (and fails with its own error).
      s.catch(() => this.sessions.delete(key));
    }
    return s;
  }

  /** onnxruntime calls run one at a time (each already uses all its threads). */
  private serial<T>(f: () => Promise<T>): Promise<T> {
    const r = this.chain.then(f, f);
    this.chain = r.catch(() => undefined);
    return r;
  }

  async matmulTransB(
    x: Float32Array,
    w: Float32Array,
    m: number,
    k: number,
    n: number,
    options?: MatmulOptions,
  ): Promise<Float32Array> {
    this.alive("matmulTransB");
    checkMatmulShapes(`${WHERE} matmulTransB`, x, w, m, k, n, options);
    if (!usesNativeGemm(m, k, n, this.threshold)) {
      this.delegatedCalls++;
      return await this.delegate.matmulTransB(x, w, m, k, n, options);
    }
    this.nativeCalls++;
    return await this.serial(() => this.runGemm(x, w, m, k, n, options));
  }

  private async runGemm(
    x: Float32Array,
    w: Float32Array,
    m: number,
    k: number,
    n: number,
    options: MatmulOptions | undefined,
  ): Promise<Float32Array> {
    const out = options?.out ?? new Float32Array(m * n);
    const bias = options?.bias;
    const T = this.ort.Tensor;
    // onnxruntime-node reads typed arrays in place (byteOffset honoured), so no copies here.
    const feeds: Record<string, OrtTensor> = {
      A: new T("float32", x, [m, k]),
      B: new T("float32", w, [n, k]),
    };
    if (bias !== undefined) feeds["C"] = new T("float32", bias, [n]);
    let y: unknown;
    try {
      const session = await this.session(k, n, bias !== undefined);
      const r = await session.run(feeds, { Y: new T("float32", out, [m, n]) });
      y = r["Y"]?.data;
    } catch (e) {
      throw new PruneError(
        "BACKEND_WORKER_FAILED",
        `${WHERE} matmulTransB: onnxruntime failed on x [${m}, ${k}] · w [${n}, ${k}]ᵀ${bias !== undefined ? " + bias" : ""}. Expected a result, got: ${String(e).slice(0, 300)}`,
        { cause: e },
      );
    }
    if (!(y instanceof Float32Array) || y.length !== m * n) {
      throw new PruneError(
        "BACKEND_WORKER_FAILED",
        `${WHERE} matmulTransB: onnxruntime returned no float32 output Y of ${m * n} elements for x [${m}, ${k}] · w [${n}, ${k}]ᵀ`,
      );
    }
    if (y !== out) out.set(y);
    return out;
  }

  /**
   * `upperOnly` skips the lower triangle's copy of every onnxruntime block row (about 60 % of the
   * float64 folding); calls below the threshold go to the delegate whole (its Gram is exactly
   * symmetric, so a mirror reproduces it).
   */
  readonly gramUpperOnly = true;

  async gramAccumulate(
    x: Float32Array,
    m: number,
    k: number,
    acc: Float64Array,
    options?: GramOptions,
  ): Promise<void> {
    this.alive("gramAccumulate");
    if (!usesNativeGram(m, k, this.threshold)) {
      await this.delegate.gramAccumulate(x, m, k, acc);
      return;
    }
    checkGramShapes(`${WHERE} gramAccumulate`, x, m, k, acc);
    this.nativeGramCalls++;
    await this.serial(() => this.runGram(x, m, k, acc, options?.upperOnly === true));
  }

  /**
   * acc += xᵀx on onnxruntime: per chunk of {@link NATIVE_GRAM_CHUNK_ROWS} rows, the chunk is
   * transposed once (k × rows), then each block row j0..j1 of the upper triangle is one GEMM,
   * xtᵀ[j0..j1]·xtᵀ[j0..k]ᵀ (half the flops of the full product), whose float32 values are added in
   * float64 to acc's upper triangle and, the same values, to its lower triangle (exactly symmetric
   * increments; skipped with `upperOnly`). The transposed chunk is allocated per call: reusing the
   * previous call's through a WeakRef saved ≈ 40 ms per 8192-wide call but kept ≈ 190 MiB more at
   * MAMA's 7B peak (memory probe, 4002 vs 3810 MiB), so it was taken out.
   */
  private async runGram(
    x: Float32Array,
    m: number,
    k: number,
    acc: Float64Array,
    upperOnly: boolean,
  ): Promise<void> {
    const chunk = Math.min(m, NATIVE_GRAM_CHUNK_ROWS);
    const blockRows = Math.min(k, GRAM_BLOCK_ROWS);
    const xt = new Float32Array(k * chunk); // (k, rows) one chunk of x, transposed
    const y = new Float32Array(blockRows * k); // (blockRows, k − j0) one block row of the upper triangle
    const T = this.ort.Tensor;
    const session = await this.gramSession().catch((e: unknown) => {
      throw gramFailure(m, k, e);
    });
    for (let r0 = 0; r0 < m; r0 += chunk) {
      const rows = Math.min(chunk, m - r0);
      const t = xt.subarray(0, k * rows);
      transposeInto(x, r0 * k, k, rows, k, t); // (k, rows) rows r0.. of x, transposed
      for (let j0 = 0; j0 < k; j0 += blockRows) {
        const b = Math.min(blockRows, k - j0);
        const w = k - j0;
        const out = y.subarray(0, b * w);
        let got: unknown;
        try {
          const r = await session.run(
            {
              A: new T("float32", t.subarray(j0 * rows, (j0 + b) * rows), [b, rows]),
              B: new T("float32", t.subarray(j0 * rows), [w, rows]),
            },
            { Y: new T("float32", out, [b, w]) },
          );
          got = r["Y"]?.data;
        } catch (e) {
          throw gramFailure(m, k, e);
        }
        if (!(got instanceof Float32Array) || got.length !== b * w) {
          throw gramFailure(m, k, "no float32 output Y of the block row's size");
        }
        foldBlockRow(got, b, w, j0, k, acc, upperOnly);
      }
    }
  }

  async colSqNormAccumulate(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void> {
    this.alive("colSqNormAccumulate");
    await this.delegate.colSqNormAccumulate(x, m, k, acc);
  }

  invalidate(weight: Float32Array): void {
    // Weights are fed to onnxruntime on every call (nothing derived is kept here).
    this.delegate.invalidate(weight);
  }

  stats(): NativeBackendStats {
    return {
      nativeCalls: this.nativeCalls,
      delegatedCalls: this.delegatedCalls,
      nativeGramCalls: this.nativeGramCalls,
      sessions: this.sessions.size,
    };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.chain;
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((s) => s.then((x) => x.release()).catch(() => undefined)));
    await this.delegate.dispose?.();
  }
}

function gramFailure(m: number, k: number, e: unknown): PruneError {
  return new PruneError(
    "BACKEND_WORKER_FAILED",
    `${WHERE} gramAccumulate: onnxruntime failed on x [${m}, ${k}]ᵀ·x. Expected a result, got: ${String(e).slice(0, 300)}`,
    { cause: e },
  );
}

/**
 * Add one block row of the Gram's upper triangle, y (b, w) = rows j0..j0+b, columns j0..k, to acc:
 * y[r, c] (c ≥ r) to acc[j0 + r, j0 + c] and, for c > r (unless `upperOnly`), the same value to
 * acc[j0 + c, j0 + r].
 * The block's entries below its diagonal (c < r) are not read: the mirror supplies them.
 */
function foldBlockRow(
  y: Float32Array,
  b: number,
  w: number,
  j0: number,
  k: number,
  acc: Float64Array,
  upperOnly: boolean,
): void {
  for (let r = 0; r < b; r++) {
    const a = (j0 + r) * k + j0;
    const yr = r * w;
    for (let c = r; c < w; c++) acc[a + c]! += y[yr + c]!;
  }
  if (upperOnly) return;
  // Row j0 + c of acc, its columns j0..j0 + min(b, c): contiguous writes, y read down a column.
  for (let c = 1; c < w; c++) {
    const a = (j0 + c) * k + j0;
    const end = Math.min(b, c);
    for (let r = 0; r < end; r++) acc[a + r]! += y[r * w + c]!;
  }
}

/**
 * Wrap an onnxruntime module and a delegate backend into one ComputeBackend: matmulTransB calls at
 * or above the threshold run as an ONNX `Gemm` on onnxruntime (weights fed as inputs on every call,
 * one session per (k, n, bias)), and so do Gram accumulations of inputs at least `gramMinCols` wide
 * (the upper triangle by block rows over chunks of 4096 rows, float32 within a chunk, float64
 * across chunks, exactly symmetric); every other call goes to the delegate unchanged. On Node,
 * `createNativeBackend` of `@mama-prune/compute-native/node` loads onnxruntime-node and the wasm
 * delegate for you.
 *
 * @throws RangeError for bad `threads` or `threshold`.
 * @example
 * const ort = await import("onnxruntime-node");
 * const backend = createOrtGemmBackend({ ort, delegate: await createWasmBackend(), threads: 1 });
 */
export function createOrtGemmBackend(options: OrtGemmBackendOptions): NativeBackend {
  return new OrtGemmBackend(options);
}
