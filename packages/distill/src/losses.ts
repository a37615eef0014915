// Losses on logits [rows, vocab], each returning the loss and dL/dlogits for trainBackward.
// Log-sum-exp and every reduction in float64.
import { zerosLike } from "./ops.ts";
import type { Tensor } from "./params.ts";

/** A loss value and its gradient with respect to the logits. */
export interface LossResult {
  /** The scalar loss. */
  readonly loss: number;
  /** dL/dlogits [rows, vocab], same element type as the logits. */
  readonly dLogits: Tensor;
}

function checkLogits(where: string, logits: Tensor, rows: number, vocab: number): void {
  if (!Number.isInteger(rows) || rows <= 0)
    throw new RangeError(`${where}: rows must be a positive integer, got ${rows}`);
  if (!Number.isInteger(vocab) || vocab <= 0)
    throw new RangeError(`${where}: vocab must be a positive integer, got ${vocab}`);
  if (logits.length !== rows * vocab) {
    throw new RangeError(
      `${where}: logits has ${logits.length} elements, expected rows·vocab = ${rows * vocab}`,
    );
  }
}

function checkTargets(where: string, targets: Int32Array, rows: number, vocab: number): void {
  if (targets.length !== rows)
    throw new RangeError(`${where}: targets has ${targets.length} elements, expected ${rows}`);
  for (let i = 0; i < rows; i++) {
    const t = targets[i]!;
    if (t !== -1 && (t < 0 || t >= vocab)) {
      throw new RangeError(
        `${where}: target ${t} at row ${i} is outside [0, ${vocab}) (use -1 to skip a row)`,
      );
    }
  }
}

/** Softmax of row `r` of `x / temperature` into `out` (float64); returns log Σ exp. */
function softmaxRow(x: Tensor, r: number, vocab: number, temperature: number, out: Float64Array): number {
  const o = r * vocab;
  let max = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < vocab; j++) max = Math.max(max, x[o + j]! / temperature);
  let z = 0;
  for (let j = 0; j < vocab; j++) {
    const e = Math.exp(x[o + j]! / temperature - max);
    out[j] = e;
    z += e;
  }
  for (let j = 0; j < vocab; j++) out[j] = out[j]! / z;
  return max + Math.log(z);
}

/**
 * Next-token cross-entropy: mean over rows with `targets[r] ≠ −1` of −log softmax(logits[r])[target],
 * optionally weighted per row (`weights[r]`, e.g. sample weights); the mean divides by the number of
 * counted rows. dL/dlogits = w·(softmax − onehot)/count.
 *
 * @throws RangeError for mismatched lengths or a target outside the vocabulary.
 * @example
 * const { loss, dLogits } = crossEntropyLoss(logits, targets, rows, vocab);
 */
export function crossEntropyLoss(
  logits: Tensor,
  targets: Int32Array,
  rows: number,
  vocab: number,
  weights?: Float64Array,
): LossResult {
  const where = "crossEntropyLoss";
  checkLogits(where, logits, rows, vocab);
  checkTargets(where, targets, rows, vocab);
  if (weights && weights.length !== rows)
    throw new RangeError(`${where}: weights has ${weights.length} elements, expected ${rows}`);
  const dLogits = zerosLike(logits, rows * vocab); // (rows, vocab)
  let count = 0;
  for (let r = 0; r < rows; r++) if (targets[r] !== -1) count++;
  if (count === 0) return { loss: 0, dLogits };
  const p = new Float64Array(vocab); // (vocab,)
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    const t = targets[r]!;
    if (t === -1) continue;
    const w = weights ? weights[r]! : 1;
    const lse = softmaxRow(logits, r, vocab, 1, p);
    loss += w * (lse - logits[r * vocab + t]!);
    const o = r * vocab;
    for (let j = 0; j < vocab; j++) dLogits[o + j] = (w * p[j]!) / count;
    dLogits[o + t] = dLogits[o + t]! - w / count;
  }
  return { loss: loss / count, dLogits };
}

/** Options of {@link distillLoss}. */
export interface DistillLossOptions {
  /** Softmax temperature T > 0 of both distributions (default 1). */
  readonly temperature?: number;
  /** Weight of next-token cross-entropy in [0, 1] (default 0: pure distillation). */
  readonly alpha?: number;
  /** Next-token targets (−1 skips a row); required when alpha > 0. */
  readonly targets?: Int32Array;
  /** Rows to skip in the KL term (mask[r] = 0); default all rows count. */
  readonly rowMask?: Uint8Array;
}

/** Result of {@link distillLoss}: the mixed loss and its two parts. */
export interface DistillLossResult extends LossResult {
  /** Mean over rows of T²·KL(teacher_T ‖ student_T). */
  readonly kl: number;
  /** Mean next-token cross-entropy at T = 1 (NaN when no targets were given). */
  readonly ce: number;
}

/**
 * Knowledge-distillation loss (Hinton et al.): (1 − α)·T²·KL(softmax(t/T) ‖ softmax(s/T)) averaged
 * over rows, plus α·CE(s, targets). The T² factor keeps the gradient scale independent of T:
 * dKL/ds = (q − p)/T, so d(T²·KL)/ds = T·(q − p).
 *
 * @throws RangeError for mismatched shapes, T ≤ 0, α outside [0, 1], or α > 0 without targets.
 * @example
 * const { loss, dLogits } = distillLoss(student, teacher, rows, vocab, { temperature: 2 });
 */
export function distillLoss(
  studentLogits: Tensor,
  teacherLogits: Tensor,
  rows: number,
  vocab: number,
  options: DistillLossOptions = {},
): DistillLossResult {
  const where = "distillLoss";
  const T = options.temperature ?? 1;
  const alpha = options.alpha ?? 0;
  checkLogits(where, studentLogits, rows, vocab);
  checkLogits(`${where} (teacher)`, teacherLogits, rows, vocab);
  if (!(Number.isFinite(T) && T > 0)) throw new RangeError(`${where}: temperature must be > 0, got ${T}`);
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`${where}: alpha must be in [0, 1], got ${alpha}`);
  if (alpha > 0 && options.targets === undefined)
    throw new RangeError(`${where}: alpha > 0 needs next-token targets`);
  const mask = options.rowMask;
  if (mask && mask.length !== rows)
    throw new RangeError(`${where}: rowMask has ${mask.length} elements, expected ${rows}`);
  const dLogits = zerosLike(studentLogits, rows * vocab); // (rows, vocab)
  const p = new Float64Array(vocab); // (vocab,) teacher
  const q = new Float64Array(vocab); // (vocab,) student
  let count = 0;
  for (let r = 0; r < rows; r++) if (!mask || mask[r]) count++;
  let kl = 0;
  if (count > 0) {
    for (let r = 0; r < rows; r++) {
      if (mask && !mask[r]) continue;
      const lseT = softmaxRow(teacherLogits, r, vocab, T, p);
      const lseS = softmaxRow(studentLogits, r, vocab, T, q);
      const o = r * vocab;
      let klr = 0;
      for (let j = 0; j < vocab; j++) {
        const pj = p[j]!;
        if (pj > 0) klr += pj * (teacherLogits[o + j]! / T - lseT - (studentLogits[o + j]! / T - lseS));
        dLogits[o + j] = ((1 - alpha) * T * (q[j]! - pj)) / count;
      }
      kl += T * T * klr;
    }
    kl /= count;
  }
  let ce = Number.NaN;
  if (options.targets !== undefined) {
    const c = crossEntropyLoss(studentLogits, options.targets, rows, vocab);
    ce = c.loss;
    if (alpha > 0) for (let i = 0; i < dLogits.length; i++) dLogits[i] = dLogits[i]! + alpha * c.dLogits[i]!;
  }
  return { loss: (1 - alpha) * kl + (alpha > 0 ? alpha * ce : 0), kl, ce, dLogits };
}

/**
 * Log-probabilities log softmax(logits[r])[targets[r]] per row (NaN where targets[r] = −1).
 *
 * @example
 * const lp = tokenLogProbs(logits, targets, rows, vocab);
 */
export function tokenLogProbs(
  logits: Tensor,
  targets: Int32Array,
  rows: number,
  vocab: number,
): Float64Array {
  checkLogits("tokenLogProbs", logits, rows, vocab);
  checkTargets("tokenLogProbs", targets, rows, vocab);
  const out = new Float64Array(rows); // (rows,)
  const p = new Float64Array(vocab); // (vocab,)
  for (let r = 0; r < rows; r++) {
    const t = targets[r]!;
    out[r] = t === -1 ? Number.NaN : logits[r * vocab + t]! - softmaxRow(logits, r, vocab, 1, p);
  }
  return out;
}

/** Options of {@link grpoLoss}: per-row quantities of the sampled completion tokens. */
export interface GrpoLossOptions {
  /** Sampled token predicted at each row (−1: not a completion token, no loss). */
  readonly targets: Int32Array;
  /** Group-normalised advantage of the completion each row belongs to. */
  readonly advantages: Float64Array;
  /** Reference-model log-probability of each row's target (NaN rows ignored when beta = 0). */
  readonly refLogProbs: Float64Array;
  /** Behaviour-policy log-probability at sampling time (π_old); default = current (ratio 1). */
  readonly oldLogProbs?: Float64Array;
  /** KL penalty weight β ≥ 0. */
  readonly beta: number;
  /** Per-row scale, e.g. 1/(G·|o_i|) (DeepSeek's sequence-then-group mean). */
  readonly rowScale: Float64Array;
}

/** Result of {@link grpoLoss}. */
export interface GrpoLossResult extends LossResult {
  /** Scaled sum over rows of the k3 KL estimate (what β multiplies). */
  readonly kl: number;
}

/**
 * The GRPO objective of DeepSeekMath (no clipping: one update per sampled batch), as a loss to
 * minimise: L = Σ_r s_r·(−A_r·ρ_r + β·k3_r) with ρ = π_θ/π_old and the k3 KL estimator
 * k3 = π_ref/π_θ − log(π_ref/π_θ) − 1 (unbiased, always ≥ 0). Gradient through log π_θ:
 * dL/dlogπ = s·(−A·ρ + β·(1 − π_ref/π_θ)), then dlogπ/dlogits = onehot − softmax.
 *
 * @throws RangeError for mismatched lengths or β < 0.
 * @example
 * const { loss, dLogits } = grpoLoss(logits, rows, vocab, { targets, advantages, refLogProbs, beta: 0.04, rowScale });
 */
export function grpoLoss(
  logits: Tensor,
  rows: number,
  vocab: number,
  options: GrpoLossOptions,
): GrpoLossResult {
  const where = "grpoLoss";
  checkLogits(where, logits, rows, vocab);
  const { targets, advantages, refLogProbs, oldLogProbs, beta, rowScale } = options;
  checkTargets(where, targets, rows, vocab);
  for (const [label, a] of [
    ["advantages", advantages],
    ["refLogProbs", refLogProbs],
    ["rowScale", rowScale],
    ["oldLogProbs", oldLogProbs],
  ] as const) {
    if (a !== undefined && a.length !== rows)
      throw new RangeError(`${where}: ${label} has ${a.length} elements, expected ${rows}`);
  }
  if (!(beta >= 0)) throw new RangeError(`${where}: beta must be ≥ 0, got ${beta}`);
  const dLogits = zerosLike(logits, rows * vocab); // (rows, vocab)
  const p = new Float64Array(vocab); // (vocab,)
  let loss = 0;
  let kl = 0;
  for (let r = 0; r < rows; r++) {
    const t = targets[r]!;
    if (t === -1) continue;
    const lse = softmaxRow(logits, r, vocab, 1, p);
    const lp = logits[r * vocab + t]! - lse;
    const ratio = oldLogProbs ? Math.exp(lp - oldLogProbs[r]!) : 1;
    const s = rowScale[r]!;
    let dlp = -advantages[r]! * ratio;
    let term = -advantages[r]! * ratio;
    if (beta > 0) {
      const rr = Math.exp(refLogProbs[r]! - lp);
      const k3 = rr - (refLogProbs[r]! - lp) - 1;
      term += beta * k3;
      kl += s * k3;
      dlp += beta * (1 - rr);
    }
    loss += s * term;
    const g = s * dlp;
    const o = r * vocab;
    for (let j = 0; j < vocab; j++) dLogits[o + j] = -g * p[j]!;
    dLogits[o + t] = dLogits[o + t]! + g;
  }
  return { loss, kl, dLogits };
}
