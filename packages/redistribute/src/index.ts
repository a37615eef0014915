export {
  type CholeskyResult,
  cholesky,
  choleskySolveInPlace,
  inverseFromCholesky,
  lowerTriangularInverse,
  PIVOT_REL_TOL,
  upperCholeskyOfInverse,
} from "./linalg.ts";
export {
  type MeanCompensationOptions,
  type MeanCompensationResult,
  meanCompensation,
} from "./mean-compensation.ts";
export { reconstructionError } from "./reconstruction-error.ts";
export { type LeastSquaresRefitOptions, type LeastSquaresRefitResult, leastSquaresRefit } from "./refit.ts";
export {
  type NMPattern,
  type SparseGptDiagnostics,
  type SparseGptOptions,
  type SparseGptResult,
  sparsegpt,
} from "./sparsegpt.ts";
