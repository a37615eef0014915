// ---- The Gram diagonal every factorisation here damps: dead inputs fixed, and its mean ----

/**
 * diag(H) with dead inputs fixed (H_jj = 0 → 1, so a column never seen by the calibration does not make
 * H singular) and the mean of that diagonal, the scale of the relative damping λ = rel·mean(diag H).
 *
 * @example
 * const { diag, meanDiag } = liveDiagonal(gram, n); // H + λI has diagonal diag[j] + rel·meanDiag
 */
export function liveDiagonal(gram: Float64Array, n: number): { diag: Float64Array; meanDiag: number } {
  const diag = new Float64Array(n); // (n,)
  let sum = 0;
  for (let j = 0; j < n; j++) {
    const v = gram[j * n + j]!;
    diag[j] = v === 0 ? 1 : v;
    sum += diag[j]!;
  }
  return { diag, meanDiag: n === 0 ? 0 : sum / n };
}

/** A float64 copy of H with {@link liveDiagonal}'s diagonal, and its mean diagonal. */
export function prepareGram(gram: Float64Array, n: number): { h: Float64Array; meanDiag: number } {
  const { diag, meanDiag } = liveDiagonal(gram, n);
  const h = new Float64Array(gram); // (n, n)
  for (let j = 0; j < n; j++) h[j * n + j] = diag[j]!;
  return { h, meanDiag };
}
