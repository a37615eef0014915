// The README quick start, runnable: npx tsx --conditions @mama-prune/source bench/quickstart.ts
import { matrix } from "@mama-prune/core";
import { leastSquaresRefit, reconstructionError, sparsegpt } from "../src/index.ts";

const w = matrix(2, 4, new Float32Array([0.9, -0.2, 0.4, 0.1, -0.3, 0.8, 0.05, -0.6])); // (out=2, in=4)
const h = new Float64Array([4, 2, 0, 0, 2, 4, 1, 0, 0, 1, 4, 2, 0, 0, 2, 4]); // XᵀX (4, 4): correlated inputs
const sg = await sparsegpt(w, h, { sparsity: { n: 2, m: 4 } });
console.log(sg.mask); // Uint8Array [1, 0, 1, 0, 0, 1, 0, 1]
const refit = await leastSquaresRefit(w, h, sg.mask, { damping: 0 });
const masked = w.data.map((v, i) => (sg.mask[i] === 1 ? v : 0));
console.log(reconstructionError(w, masked, h).toFixed(4)); // no update
console.log(reconstructionError(w, sg.weight, h).toFixed(4)); // SparseGPT's OBS update
console.log(reconstructionError(w, refit.weight, h).toFixed(4)); // exact least-squares refit
