// Profile of MAMA's sweep solver per stage on qwen2.5-0.5b-shaped linears (synthetic weights and a
// synthetic correlated Gram; times only). Run:
//   npx tsx --conditions @mama-prune/source tools/bench-scale/profile-mama-sweep.ts [rows×cols,...] [sparsity]
import { createWasmBackend } from "@mama-prune/compute-wasm";
import { createRng, matrix, SILENT_LOGGER } from "@mama-prune/core";
import { denseTargetWeight, refitKept } from "@mama-prune/pipeline";
import { sparseGptFactor, sparsegpt } from "@mama-prune/redistribute";

const shapes = (process.argv[2] ?? "128x896,896x896,4864x896,896x4864")
  .split(",")
  .map((s) => s.split("x").map(Number) as [number, number]);
const level = process.argv[3] === "2:4" ? { n: 2, m: 4 } : Number(process.argv[3] ?? 0.5);
const backend = await createWasmBackend();
const rng = createRng(7);
const tokens = 2048;
const grams = new Map<number, { gram: Float64Array; cross: Float64Array }>();
async function statsOf(n: number): Promise<{ gram: Float64Array; cross: Float64Array }> {
  const hit = grams.get(n);
  if (hit !== undefined) return hit;
  const x = new Float32Array(tokens * n);
  const xd = new Float32Array(tokens * n);
  const scale = Float32Array.from({ length: n }, () => 0.3 + 2 * rng.next());
  for (let t = 0; t < tokens; t++) {
    const base = rng.normal();
    for (let j = 0; j < n; j++) {
      x[t * n + j] = scale[j]! * (rng.normal() + 0.7 * base);
      xd[t * n + j] = x[t * n + j]! + 0.3 * rng.normal();
    }
  }
  const gram = new Float64Array(n * n);
  await backend.gramAccumulate(x, tokens, n, gram);
  // C = X̃ᵀX: (xᵀ)(xd) via the GEMM on transposes.
  const xt = new Float32Array(n * tokens);
  const xdt = new Float32Array(n * tokens);
  for (let t = 0; t < tokens; t++)
    for (let j = 0; j < n; j++) {
      xt[j * tokens + t] = x[t * n + j]!;
      xdt[j * tokens + t] = xd[t * n + j]!;
    }
  const c32 = await backend.matmulTransB(xt, xdt, n, tokens, n);
  const cross = Float64Array.from(c32);
  for (let a = 0; a < n; a++) for (let b = 0; b < a; b++) gram[a * n + b] = gram[b * n + a]!;
  const s = { gram, cross };
  grams.set(n, s);
  return s;
}
const time = async <T>(label: string, f: () => Promise<T>, out: string[]): Promise<T> => {
  const t0 = performance.now();
  const r = await f();
  out.push(`${label} ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  return r;
};
for (const [rows, cols] of shapes) {
  const { gram, cross } = await statsOf(cols);
  const w = matrix(
    rows,
    cols,
    Float32Array.from({ length: rows * cols }, () => rng.normal() * 0.05),
  );
  const out: string[] = [];
  const f = await time("factor", () => sparseGptFactor(gram, cols, { backend }), out);
  await time("V (own factor)", () => denseTargetWeight(w, gram, cross, 0.01, "w", 0.35, backend), out);
  const { target } = await time(
    "V (shared)",
    () => denseTargetWeight(w, gram, cross, 0.01, "w", 0.35, backend, f),
    out,
  );
  const s = await time(
    "sweep (shared)",
    () => sparsegpt(target, gram, { sparsity: level, backend, factor: f, unstructuredGroup: "row" }),
    out,
  );
  out.push(
    `  [sweep stages ms: ${JSON.stringify(s.diagnostics.stageMs, (_, v) => (typeof v === "number" ? Math.round(v) : v))}]`,
  );
  await time(
    "polish 3",
    () =>
      refitKept(target, gram, s.mask, {
        backend,
        name: "w",
        log: SILENT_LOGGER,
        initialWeight: s.weight,
        maxIterations: 3,
        maxDirectMultiplyAdds: 0,
      }),
    out,
  );
  await time(
    "polish 1",
    () =>
      refitKept(target, gram, s.mask, {
        backend,
        name: "w",
        log: SILENT_LOGGER,
        initialWeight: s.weight,
        maxIterations: 1,
        maxDirectMultiplyAdds: 0,
      }),
    out,
  );
  await time("sparsegpt alone", () => sparsegpt(w, gram, { sparsity: level, backend }), out);
  console.log(`${rows}×${cols} @ ${JSON.stringify(level)}: ${out.join(" | ")}`);
}
await backend.dispose?.();
