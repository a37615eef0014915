/**
 * The part of onnxruntime's JavaScript API this package uses (onnxruntime-node's module satisfies
 * it), declared here so the package type-checks and builds without onnxruntime installed.
 */

/** A tensor handed to or returned by a session. */
export interface OrtTensor {
  readonly data: unknown;
  dispose?(): void;
}

/** An inference session of one model. */
export interface OrtSession {
  run(
    feeds: Record<string, OrtTensor>,
    fetches?: Record<string, OrtTensor | null>,
  ): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

/** Session options set by this package. */
export interface OrtSessionOptions {
  readonly intraOpNumThreads: number;
  readonly interOpNumThreads: number;
  readonly executionMode: "sequential";
  readonly graphOptimizationLevel: "all";
  /** Session config entries (onnxruntime_session_options_config_keys.h), nested by dots. */
  readonly extra: { readonly session: { readonly intra_op: { readonly allow_spinning: "0" | "1" } } };
}

/** The onnxruntime module: `Tensor`, `InferenceSession` and (optionally) `env.versions`. */
export interface OrtModule {
  readonly Tensor: new (type: "float32", data: Float32Array, dims: readonly number[]) => OrtTensor;
  readonly InferenceSession: {
    create(model: Uint8Array, options: OrtSessionOptions): Promise<OrtSession>;
  };
  readonly env?: { readonly versions?: { readonly node?: string; readonly common?: string } };
}
