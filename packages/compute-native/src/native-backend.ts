/**
 * A ComputeBackend whose large matmuls run on onnxruntime (MLAS on CPU) and everything else on a
 * delegate backend (the wasm one in `./node`). Runtime-neutral: the onnxruntime module is injected.
 */
import { type ComputeBackend, checkMatmulShapes, type MatmulOptions, PruneError } from "@mama-prune/core";
import { gemmModel } from "./onnx-proto.ts";
import type { OrtModule, OrtSession, OrtTensor } from "./ort.ts";
import { type NativeGemmThreshold, resolveThreshold, usesNativeGemm } from "./threshold.ts";

/** Options of {@link createOrtGemmBackend}. */
export interface OrtGemmBackendOptions {
  /** The onnxruntime module (e.g. `await import("onnxruntime-node")`). */
  readonly ort: OrtModule;
  /**
   * Runs every call below the threshold and every other operation (Gram, column norms, and the
   * optional attention and SwiGLU, offered exactly when the delegate has them). Owned by the new backend: its `dispose()` disposes the delegate too.
   */
  readonly delegate: ComputeBackend;
  /** onnxruntime's intra-op threads (the calling thread included). */
  readonly threads: number;
  /** Which matmuls run on onnxruntime (default {@link DEFAULT_NATIVE_GEMM_THRESHOLD}). */
  readonly threshold?: Partial<NativeGemmThreshold>;
}

/** Counters of a {@link NativeBackend}. */
export interface NativeBackendStats {
  /** matmulTransB calls run on onnxruntime. */
  readonly nativeCalls: number;
  /** matmulTransB calls sent to the delegate (below the threshold). */
  readonly delegatedCalls: number;
  /** onnxruntime sessions created (one per (k, n, bias) shape). */
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
  private readonly sessions = new Map<string, Promise<OrtSession>>();
  private chain: Promise<unknown> = Promise.resolve();
  private nativeCalls = 0;
  private delegatedCalls = 0;
  private disposed = false;
  /** The delegate's fused attention, when it has one (the model's matmul path otherwise). */
  readonly causalAttentionWindows?: NonNullable<ComputeBackend["causalAttentionWindows"]>;
  /** The delegate's SwiGLU, when it has one (the model's own loop otherwise). */
  readonly swiglu?: NonNullable<ComputeBackend["swiglu"]>;

  constructor(o: OrtGemmBackendOptions) {
    if (!Number.isInteger(o.threads) || o.threads < 1 || o.threads > 256) {
      throw new RangeError(`${WHERE}: threads must be an integer in [1, 256], got ${String(o.threads)}`);
    }
    this.ort = o.ort;
    this.delegate = o.delegate;
    this.threads = o.threads;
    this.threshold = resolveThreshold(WHERE, o.threshold);
    this.name = `onnxruntime x${o.threads} + ${o.delegate.name}`;
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
  }

  private alive(op: string): void {
    if (this.disposed) throw new RangeError(`${WHERE} ${op}: the backend was disposed`);
  }

  /** The session of `Y = Gemm(A, B, [C], transB = 1)` for one (k, n, bias) with a symbolic M. */
  private session(k: number, n: number, bias: boolean): Promise<OrtSession> {
    const key = `${k} ${n} ${bias ? 1 : 0}`;
    let s = this.sessions.get(key);
    if (s === undefined) {
      const bytes = gemmModel({
        a: { name: "A", dims: ["M", k] },
        b: { name: "B", dims: [n, k] },
        ...(bias ? { c: { name: "C", dims: [n] } } : {}),
        y: { name: "Y", dims: ["M", n] },
        transB: 1,
      });
      s = this.ort.InferenceSession.create(bytes, {
        intraOpNumThreads: this.threads,
        interOpNumThreads: 1,
        executionMode: "sequential",
        graphOptimizationLevel: "all",
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

  async gramAccumulate(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void> {
    this.alive("gramAccumulate");
    await this.delegate.gramAccumulate(x, m, k, acc);
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

/**
 * Wrap an onnxruntime module and a delegate backend into one ComputeBackend: matmulTransB calls at
 * or above the threshold run as an ONNX `Gemm` on onnxruntime (weights fed as inputs on every call,
 * one session per (k, n, bias)); every other call goes to the delegate unchanged. On Node,
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
