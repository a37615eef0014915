import { createWasmBackend } from "@mama-prune/compute-wasm";
import { createMemoryLogger, createRng, matrix } from "@mama-prune/core";
import { afterAll, describe, expect, it } from "vitest";
import { pruneLinear } from "./prune-linear.ts";
import { type SparseGptFactorCache, sharedSparseGptFactor } from "./sparsegpt-factor-cache.ts";

const backend = await createWasmBackend();
afterAll(async () => {
  await backend.dispose?.();
});

const cols = 520; // ≥ SPARSEGPT_BACKEND_MIN_COLS: the backend path
/** XᵀX in float64 of a seeded 700 × cols activation-like X (column scales vary, one dead input). */
function gramOf(seed: number): Float64Array {
  const rng = createRng(seed);
  const t = 700;
  const x = new Float64Array(t * cols);
  for (let i = 0; i < t; i++)
    for (let j = 0; j < cols; j++) x[i * cols + j] = j === 17 ? 0 : rng.normal() * (1 + (j % 7));
  const g = new Float64Array(cols * cols);
  for (let i = 0; i < t; i++) {
    const r = i * cols;
    for (let a = 0; a < cols; a++) {
      const v = x[r + a]!;
      if (v === 0) continue;
      for (let b = 0; b < cols; b++) g[a * cols + b]! += v * x[r + b]!;
    }
  }
  return g;
}
const weight = (rows: number, seed: number) => {
  const rng = createRng(seed);
  return matrix(
    rows,
    cols,
    Float32Array.from({ length: rows * cols }, () => 0.02 * rng.normal()),
  );
};

describe("sharedSparseGptFactor", () => {
  it("factors once for the first linear, hands the same factor to the next, drops it at the last", async () => {
    const gram = gramOf(3);
    const cache: SparseGptFactorCache = new Map();
    const log = createMemoryLogger();
    const base = { cache, gram, cols, percdamp: undefined, backend, name: "q", log };
    const first = await sharedSparseGptFactor({ ...base, last: false });
    expect(first).toBeDefined();
    expect(cache.get(gram)).toBe(first);
    expect(first!.factor.relDamping).toBe(0.01);
    const second = await sharedSparseGptFactor({ ...base, last: false });
    expect(second).toBe(first); // the same object: no second factorisation
    const last = await sharedSparseGptFactor({ ...base, last: true });
    expect(last).toBe(first);
    expect(cache.size).toBe(0);
    // A Gram with one consumer: nothing cached, sparsegpt factors it (in place) itself.
    expect(await sharedSparseGptFactor({ ...base, last: true })).toBeUndefined();
    expect(cache.size).toBe(0);
    // Other damping: a new factor; no cache, no backend or a narrow input: sparsegpt's own path.
    const d = await sharedSparseGptFactor({ ...base, percdamp: 0.1, last: false });
    expect(d?.factor.relDamping).toBe(0.1);
    expect(await sharedSparseGptFactor({ ...base, cache: undefined, last: false })).toBeUndefined();
    expect(await sharedSparseGptFactor({ ...base, backend: undefined, last: false })).toBeUndefined();
    expect(
      await sharedSparseGptFactor({ ...base, gram: new Float64Array(100 * 100), cols: 100, last: false }),
    ).toBeUndefined();
  });
});

describe("pruneLinear with sparsegptFactors", () => {
  it("three linears on one Gram: the weights and masks of factoring per linear, bit for bit", async () => {
    const ws = [weight(64, 5), weight(96, 6), weight(32, 7)];
    for (const sparsity of [0.5, { n: 2, m: 4 }] as const) {
      const run = async (shared: boolean) => {
        const gram = gramOf(4);
        const tokens = 700;
        const stats = { cols, tokens, weightSum: tokens, gram };
        const cache: SparseGptFactorCache = new Map();
        const out = [];
        for (let i = 0; i < ws.length; i++) {
          out.push(
            await pruneLinear({
              name: `l${i}`,
              weight: ws[i]!,
              method: "sparsegpt",
              sparsity,
              stats,
              backend,
              ...(i === ws.length - 1 ? { gramDisposable: true } : {}),
              ...(shared ? { sparsegptFactors: cache } : {}),
            }),
          );
          // shared: the first linear left its factor for the others
          if (i === 0) expect(cache.size).toBe(shared ? 1 : 0);
        }
        expect(cache.size).toBe(0); // the last linear dropped the entry
        return out;
      };
      const own = await run(false);
      const shared = await run(true);
      for (let i = 0; i < ws.length; i++) {
        expect(Array.from(shared[i]!.weight)).toEqual(Array.from(own[i]!.weight));
        expect(Array.from(shared[i]!.mask)).toEqual(Array.from(own[i]!.mask));
        expect(shared[i]!.dampingUsed).toBe(own[i]!.dampingUsed);
        expect(shared[i]!.reconstructionError).toBe(own[i]!.reconstructionError);
      }
      // and it pruned: half of each weight is zero
      const z = shared[0]!.weight.filter((v) => v === 0).length;
      expect(z).toBeGreaterThanOrEqual(64 * cols * 0.5);
    }
  });
});
