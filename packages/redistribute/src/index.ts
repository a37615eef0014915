export { BLOCKED_LEAF, type BlockedFactorStats, upperCholeskyOfInverseBlocked } from "./blocked-cholesky.ts";
export { pooledFloat32, recycleFloats } from "./buffer-pool.ts";
export {
  type CholeskyResult,
  cholesky,
  choleskySolveInPlace,
  inverseFromCholesky,
  lowerTriangularInverse,
  PIVOT_REL_TOL,
  upperCholeskyOfInverse,
  upperCholeskyOfInverseInPlace,
} from "./linalg.ts";
export {
  type MeanCompensationOptions,
  type MeanCompensationResult,
  meanCompensation,
} from "./mean-compensation.ts";
export { SPARSEGPT_BACKEND_MIN_COLS } from "./obs-sweep.ts";
export {
  PCG_DEFAULT_MAX_ITERATIONS,
  PCG_DEFAULT_RANK,
  PCG_DEFAULT_TOLERANCE,
  PCG_H_BLOCK_FLOATS,
  PCG_WINDOW,
  type PcgRefitOptions,
  type PcgRefitResult,
  pcgRefit,
} from "./pcg-refit.ts";
export {
  type ReconstructionErrorOptions,
  reconstructionError,
  reconstructionErrorOnBackend,
} from "./reconstruction-error.ts";
export { type LeastSquaresRefitOptions, type LeastSquaresRefitResult, leastSquaresRefit } from "./refit.ts";
export {
  chooseRefitSolver,
  DIRECT_REFIT_MAX_MULTIPLY_ADDS,
  type RefitCost,
  type RefitSolverChoice,
  refitCost,
} from "./refit-solver.ts";
export {
  type NMPattern,
  type SparseGptDiagnostics,
  type SparseGptFactor,
  type SparseGptFactorOptions,
  type SparseGptFactorResult,
  type SparseGptMaskScore,
  type SparseGptOptions,
  type SparseGptResult,
  type SparseGptScoreRegion,
  type SparseGptStage,
  sparseGptFactor,
  sparsegpt,
} from "./sparsegpt.ts";
