/**
 * The compute-backend interface: every heavy arithmetic operation of the forward pass and of
 * calibration goes through it, so faster backends (WebAssembly SIMD with threads, WebGPU) plug in
 * without touching model code. All matrices are row-major float32.
 *
 * Methods are async because GPU backends are; CPU backends may resolve immediately.
 */
export interface ComputeBackend {
  /** Short name shown in reports, e.g. "js", "wasm-simd x2", "webgpu (SwiftShader)". */
  readonly name: string;
  /**
   * y = x · wᵀ (+ bias): x is [m, k], w is [n, k] (the Linear weight layout), y is [m, n].
   * When `out` is given (length m·n) the result is written there and returned.
   */
  matmulTransB(
    x: Float32Array,
    w: Float32Array,
    m: number,
    k: number,
    n: number,
    options?: MatmulOptions,
  ): Promise<Float32Array>;
  /**
   * acc[k, k] += xᵀx for x [m, k], accumulated in float64 (Gram matrix / Hessian statistics). With
   * `options.upperOnly`, a backend that declares {@link ComputeBackend.gramUpperOnly} may leave the
   * strict lower triangle of acc as it was (the upper triangle and diagonal get exactly what they
   * would get without the option); the caller restores it with core's `mirrorUpperToLower` before
   * reading it. Other backends ignore the option.
   */
  gramAccumulate(
    x: Float32Array,
    m: number,
    k: number,
    acc: Float64Array,
    options?: GramOptions,
  ): Promise<void>;
  /**
   * True when {@link ComputeBackend.gramAccumulate} honours `upperOnly` (it then skips the lower
   * triangle's copy of every increment, and its full result is exactly symmetric, so mirroring the
   * upper triangle reproduces it bit for bit). Absent: the option is ignored.
   */
  readonly gramUpperOnly?: boolean;
  /** acc[j] += Σ_i x[i, j]² for x [m, k] (squared column norms, e.g. Wanda's ‖X_j‖²). */
  colSqNormAccumulate(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void>;
  /**
   * The contents of `weight` changed in place: drop any copy derived from it (packed panels, GPU
   * buffers, a sparse layout built from its zeros), so the next {@link ComputeBackend.matmulTransB}
   * with this array reads its current values. Backends may cache whatever they derive from a weight
   * keyed by the array's identity; whoever edits a weight array in place (e.g.
   * `LlamaModel.setLinearWeight` of `@mama-prune/model`, which copies into the live array) calls
   * this right after the edit. A new array needs no call. Unknown arrays are ignored; a backend
   * without caches implements it as a no-op. Synchronous and cheap: it never waits for the device.
   *
   * @example
   * w.fill(0, 0, 16); // prune the first 16 weights in place
   * backend.invalidate(w);
   */
  invalidate(weight: Float32Array): void;
  /**
   * Optional fused causal (optionally sliding-window) grouped-query attention over `batch`
   * independent windows of `seqLen` rows: q [batch·seqLen, heads·headDim], k/v [batch·seqLen,
   * kvHeads·headDim] (after RoPE), out [batch·seqLen, heads·headDim] ← softmax(q·kᵀ/√headDim)·v per
   * window and head, query head h reading kv head ⌊h·kvHeads/heads⌋. A backend implements it only
   * with the arithmetic of `@mama-prune/model`'s QKᵀ/P·V path over its own `matmulTransB` (so the
   * result does not depend on which of the two runs). Resolves `false`, writing nothing, for a
   * layout it does not handle (the caller then takes the matmul path).
   */
  causalAttentionWindows?(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    out: Float32Array,
    batch: number,
    seqLen: number,
    heads: AttentionLayout,
  ): Promise<boolean>;
  /**
   * Optional SwiGLU activation out = silu(gate)·up = (g / (1 + exp(−g)))·u elementwise, computed in
   * float64 from the float32 inputs and rounded to float32 once, with an exp equal to Math.exp: the
   * arithmetic of `@mama-prune/model`'s `swiglu` on float32 arrays, so the result does not depend on
   * which runs. `out` may be `gate` (in place).
   */
  swiglu?(gate: Float32Array, up: Float32Array, out: Float32Array): Promise<void>;
  /**
   * Optional row statistics of a log-sum-exp: for each row r < rows of y (row-major float32, n
   * columns), max[r] = its largest entry as `if (y > m) m = y` from −∞ finds it (NaN never wins) and
   * sum[r] = Σ_j exp(y[r, j] − max[r]) added in float64 in column order with an exp equal to
   * Math.exp: bitwise the values of those JavaScript loops, so the result does not depend on which
   * runs (e.g. a perplexity's vocabulary chunks).
   */
  rowMaxSumExp?(
    y: Float32Array,
    rows: number,
    n: number,
    max: Float64Array,
    sum: Float64Array,
  ): Promise<void>;
  /** Release workers, GPU buffers, etc. Safe to call twice. */
  dispose?(): Promise<void>;
}

/** The head layout of {@link ComputeBackend.causalAttentionWindows}. */
export interface AttentionLayout {
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  /** Keys visible to a query: the last `slidingWindow` positions (itself included); absent = all. */
  readonly slidingWindow?: number | undefined;
}

/** Options of {@link ComputeBackend.gramAccumulate}. */
export interface GramOptions {
  /**
   * Only the upper triangle (diagonal included) of acc needs the increment; a backend with
   * {@link ComputeBackend.gramUpperOnly} then leaves the strict lower triangle untouched.
   */
  readonly upperOnly?: boolean;
}

/** Options of {@link ComputeBackend.matmulTransB}. */
export interface MatmulOptions {
  /** Bias [n] added to every row of the output. */
  readonly bias?: Float32Array;
  /** Output buffer [m, n]; allocated when absent. */
  readonly out?: Float32Array;
}

/**
 * Check that every named dimension is a non-negative integer (the message names it), so every
 * backend's shape checks fail alike.
 *
 * @throws RangeError `${where}: ${name} must be a non-negative integer, got ${value}`.
 * @example
 * checkDims("wasm gramAccumulate", { m: 4, k: 2 }); // passes
 */
export function checkDims(where: string, dims: Readonly<Record<string, number>>): void {
  for (const [label, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < 0)
      throw new RangeError(`${where}: ${label} must be a non-negative integer, got ${v}`);
  }
}

/**
 * Validate the shapes of a matmulTransB call (shared by every backend so they fail alike).
 *
 * @throws RangeError naming the mismatching operand.
 */
export function checkMatmulShapes(
  where: string,
  x: Float32Array,
  w: Float32Array,
  m: number,
  k: number,
  n: number,
  options?: MatmulOptions,
): void {
  checkDims(where, { m, k, n });
  if (x.length !== m * k)
    throw new RangeError(`${where}: x has ${x.length} elements, expected m·k = ${m * k}`);
  if (w.length !== n * k)
    throw new RangeError(`${where}: w has ${w.length} elements, expected n·k = ${n * k}`);
  if (options?.bias && options.bias.length !== n) {
    throw new RangeError(`${where}: bias has ${options.bias.length} elements, expected n = ${n}`);
  }
  if (options?.out && options.out.length !== m * n) {
    throw new RangeError(`${where}: out has ${options.out.length} elements, expected m·n = ${m * n}`);
  }
}

/**
 * Validate the shapes of a gramAccumulate call (x [m, k], acc [k, k]), with the messages of
 * {@link checkMatmulShapes}, so every backend fails alike.
 *
 * @throws RangeError naming the mismatching operand.
 */
export function checkGramShapes(
  where: string,
  x: Float32Array,
  m: number,
  k: number,
  acc: Float64Array,
): void {
  checkDims(where, { m, k });
  if (x.length !== m * k)
    throw new RangeError(`${where}: x has ${x.length} elements, expected m·k = ${m * k}`);
  if (acc.length !== k * k)
    throw new RangeError(`${where}: acc has ${acc.length} elements, expected k·k = ${k * k}`);
}
