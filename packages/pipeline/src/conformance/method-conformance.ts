// ---- Conformance kit for method plugins: named, runner-independent checks ----

import {
  createRng,
  isPruneError,
  type Matrix,
  matrix,
  type NmPattern,
  SILENT_LOGGER,
} from "@mama-prune/core";
import { createCpuBackend } from "@mama-prune/model";
import { METHOD_API_VERSION, type PruneMethodDefinition, validateMethodDefinition } from "../method.ts";
import { methodNeeds, type ResolvedMethod, resolveMethod } from "../methods.ts";
import { type PruneLinearResult, pruneLinear } from "../prune-linear.ts";
import { createStatsAccumulator, type LinearInputStats } from "../stats.ts";

/** Ids of the method conformance checks, usable as keys of `expectedFailures`. */
export type MethodConformanceCheckId =
  | "definition"
  | "runs"
  | "sparsity"
  | "n-m"
  | "deterministic"
  | "no-mutation"
  | "abort";

/** Every check id with its description, in run order. */
export const METHOD_CONFORMANCE_CHECKS: readonly {
  readonly id: MethodConformanceCheckId;
  readonly description: string;
}[] = [
  {
    id: "definition",
    description: "is a valid method definition whose scorer factory returns a valid scorer",
  },
  { id: "runs", description: "prunes every linear of a synthetic block to finite weights of the same shape" },
  {
    id: "sparsity",
    description: "reaches the requested unstructured sparsity in its comparison group (0.5)",
  },
  { id: "n-m", description: "reaches 2:4 (exactly 2 zeros in every 4 consecutive weights of a row)" },
  { id: "deterministic", description: "gives bit-identical weights for identical inputs" },
  { id: "no-mutation", description: "does not mutate the weight, the statistics or W⁰" },
  { id: "abort", description: "rejects with PruneError ABORTED when the signal is aborted" },
];

/** One runner-independent check: `it(c.name, c.run)` or `Deno.test(c.name, c.run)`. */
export interface MethodConformanceCheck {
  /** `<method> method conformance: <description>` (plus the reason for an expected failure). */
  readonly name: string;
  readonly id: MethodConformanceCheckId;
  /** Resolves when the check passes (or an expected failure fails); rejects with an explanation otherwise. */
  run(): Promise<void>;
}

/** Options of {@link methodConformance}. */
export interface MethodConformanceOptions {
  /** `{ [checkId]: reason }`: checks known to fail. One that passes fails the run, so the list stays honest. */
  readonly expectedFailures?: Readonly<Partial<Record<MethodConformanceCheckId, string>>>;
  /** The method options to run with (`methodOptions` of prune). Default: the definition's defaults. */
  readonly methodOptions?: unknown;
  /** Fixture seed, default 0. */
  readonly seed?: number;
}

class MethodConformanceFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MethodConformanceFailure";
  }
}

function fail(message: string): never {
  throw new MethodConformanceFailure(message);
}

/** The synthetic block: shapes of its linears [rows, cols] (cols divisible by 4 for 2:4). */
const BLOCK_SHAPES: readonly (readonly [number, number])[] = [
  [16, 24],
  [24, 16],
  [12, 32],
];

interface Fixture {
  readonly name: string;
  readonly weight: Matrix;
  readonly preWeight: Matrix;
  readonly stats: LinearInputStats;
}

async function makeBlock(resolved: ResolvedMethod, seed: number): Promise<Fixture[]> {
  const needs = methodNeeds(resolved, { reconstructionError: true });
  const backend = createCpuBackend();
  const out: Fixture[] = [];
  for (const [k, [rows, cols]] of BLOCK_SHAPES.entries()) {
    const rng = createRng(seed * 1000 + k);
    const w = new Float32Array(rows * cols); // (rows, cols)
    for (let i = 0; i < w.length; i++) w[i] = rng.normal() / Math.sqrt(cols);
    const pre = new Float32Array(rows * cols); // (rows, cols): W⁰ = W + small noise
    for (let i = 0; i < pre.length; i++) pre[i] = w[i]! + (0.1 * rng.normal()) / Math.sqrt(cols);
    const tokens = 4 * cols;
    const x = new Float32Array(tokens * cols); // (tokens, cols), per-column scales differ
    const scale = Array.from({ length: cols }, () => 0.2 + 2 * rng.next());
    for (let t = 0; t < tokens; t++)
      for (let j = 0; j < cols; j++) x[t * cols + j] = rng.normal() * scale[j]!;
    const acc = createStatsAccumulator(cols, needs.stats, backend);
    await acc.add(x, tokens);
    out.push({
      name: `conformance.block.linear_${k}.weight`,
      weight: matrix(rows, cols, w),
      preWeight: matrix(rows, cols, pre),
      stats: acc.result(),
    });
  }
  return out;
}

function expectedZeros(resolved: ResolvedMethod, rows: number, cols: number, s: number): number {
  if (resolved.scorer !== undefined && resolved.group === "row") return rows * Math.floor(s * cols);
  if (resolved.scorer !== undefined && resolved.group === "block") {
    let z = 0;
    for (let c0 = 0; c0 < cols; c0 += 128) z += Math.floor(s * rows * Math.min(128, cols - c0));
    return z;
  }
  return Math.floor(s * rows * cols); // matrix, and SparseGPT's adaptive mask over the whole matrix
}

function countZeros(a: ArrayLike<number>): number {
  let z = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === 0) z++;
  return z;
}

function sameBits(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

/**
 * The method conformance kit: named, runner-independent checks any method plugin (a definition from
 * `defineMethod`) should pass. Each check resolves the method like `prune` does and runs
 * `pruneLinear` on every linear of a small synthetic block (seeded weights, pre-trained weights W⁰
 * near W, calibration statistics of random activations with unequal column scales).
 *
 * @throws RangeError when `expectedFailures` names an unknown check.
 * @example
 * for (const c of methodConformance(myMethod)) it(c.name, c.run);        // vitest
 * for (const c of methodConformance(myMethod)) Deno.test(c.name, c.run); // Deno
 */
export function methodConformance(
  method: PruneMethodDefinition,
  options: MethodConformanceOptions = {},
): MethodConformanceCheck[] {
  const expected = options.expectedFailures ?? {};
  const known = METHOD_CONFORMANCE_CHECKS.map((c) => c.id) as string[];
  for (const k of Object.keys(expected)) {
    if (!known.includes(k)) {
      throw new RangeError(
        `methodConformance: expectedFailures has unknown check "${k}"; known: ${known.join(", ")}`,
      );
    }
  }
  const seed = options.seed ?? 0;
  const label = typeof method?.name === "string" ? method.name : "<unnamed method>";
  const resolve = (): ResolvedMethod => {
    try {
      return resolveMethod(method, {
        hasPreCheckpoint: true,
        ...(options.methodOptions !== undefined ? { methodOptions: options.methodOptions } : {}),
      });
    } catch (e) {
      return fail(`${label}: cannot be resolved: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const run = async (
    resolved: ResolvedMethod,
    f: Fixture,
    sparsity: number | NmPattern,
    signal?: AbortSignal,
  ): Promise<PruneLinearResult> => {
    const needs = methodNeeds(resolved);
    return await pruneLinear({
      name: f.name,
      weight: f.weight,
      method: resolved,
      sparsity,
      stats: f.stats,
      ...(needs.preWeights ? { preWeight: f.preWeight } : {}),
      log: SILENT_LOGGER,
      ...(signal !== undefined ? { signal } : {}),
    });
  };
  const runAll = async (sparsity: number | NmPattern): Promise<[Fixture, PruneLinearResult][]> => {
    const resolved = resolve();
    const block = await makeBlock(resolved, seed);
    const out: [Fixture, PruneLinearResult][] = [];
    for (const f of block) {
      try {
        out.push([f, await run(resolved, f, sparsity)]);
      } catch (e) {
        fail(`${f.name}: pruneLinear threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      }
    }
    return out;
  };

  const bodies: Record<MethodConformanceCheckId, () => Promise<void>> = {
    async definition(): Promise<void> {
      const problems = validateMethodDefinition(method);
      if (problems.length > 0) fail(`${label}: ${problems.join(" ")}`);
      if (method.apiVersion !== METHOD_API_VERSION) {
        fail(
          `${label}: apiVersion ${String(method.apiVersion)}, expected ${METHOD_API_VERSION} (use defineMethod)`,
        );
      }
      const r = resolve();
      const needs = methodNeeds(r);
      if (needs.gradients)
        fail(`${label}: its scorer needs "gradients", which the pipeline does not compute`);
    },
    async runs(): Promise<void> {
      for (const [f, r] of await runAll(0.5)) {
        if (r.weight.length !== f.weight.data.length)
          fail(`${f.name}: expected ${f.weight.data.length} weights, got ${r.weight.length}`);
        if (r.mask.length !== f.weight.data.length)
          fail(`${f.name}: expected a mask of ${f.weight.data.length}, got ${r.mask.length}`);
        for (let i = 0; i < r.weight.length; i++) {
          if (!Number.isFinite(r.weight[i]!)) fail(`${f.name}: weight ${i} is not finite (${r.weight[i]})`);
        }
      }
    },
    async sparsity(): Promise<void> {
      const resolved = resolve();
      for (const [f, r] of await runAll(0.5)) {
        const { rows, cols } = f.weight;
        const want = expectedZeros(resolved, rows, cols, 0.5);
        const maskZeros = countZeros(r.mask);
        if (maskZeros !== want) {
          fail(`${f.name}: the mask prunes ${maskZeros} weights, expected ${want} (group ${resolved.group})`);
        }
        for (let i = 0; i < r.mask.length; i++) {
          if (r.mask[i] === 0 && r.weight[i] !== 0)
            fail(`${f.name}: weight ${i} is pruned by the mask but ${r.weight[i]}`);
        }
        if (countZeros(r.weight) < want)
          fail(`${f.name}: ${countZeros(r.weight)} zeros, expected at least ${want}`);
      }
    },
    async "n-m"(): Promise<void> {
      for (const [f, r] of await runAll({ n: 2, m: 4 })) {
        for (let base = 0; base < r.weight.length; base += 4) {
          let z = 0;
          for (let q = 0; q < 4; q++) if (r.mask[base + q] === 0) z++;
          if (z !== 2) fail(`${f.name}: the group at ${base} has ${z} pruned of 4, expected 2`);
          for (let q = 0; q < 4; q++) {
            if (r.mask[base + q] === 0 && r.weight[base + q] !== 0)
              fail(`${f.name}: weight ${base + q} is not zero`);
          }
        }
      }
    },
    async deterministic(): Promise<void> {
      const a = await runAll(0.5);
      const b = await runAll(0.5);
      for (let k = 0; k < a.length; k++) {
        const i = sameBits(a[k]![1].weight, b[k]![1].weight);
        if (i >= 0) fail(`${a[k]![0].name}: two runs on identical inputs differ at weight ${i}`);
      }
    },
    async "no-mutation"(): Promise<void> {
      const resolved = resolve();
      const block = await makeBlock(resolved, seed);
      for (const f of block) {
        const before = [f.weight.data.slice(), f.preWeight.data.slice()];
        const stats = [f.stats.sqNorm, f.stats.weightedSqNorm, f.stats.sum, f.stats.gram].map((s) =>
          s?.slice(),
        );
        await run(resolved, f, 0.5);
        if (sameBits(before[0]!, f.weight.data) >= 0) fail(`${f.name}: the weight was modified`);
        if (sameBits(before[1]!, f.preWeight.data) >= 0) fail(`${f.name}: W⁰ was modified`);
        const now = [f.stats.sqNorm, f.stats.weightedSqNorm, f.stats.sum, f.stats.gram];
        for (let k = 0; k < now.length; k++) {
          const was = stats[k];
          const is = now[k];
          if (was !== undefined && is !== undefined && was.some((v, i) => !Object.is(v, is[i])))
            fail(`${f.name}: statistics ${["sqNorm", "weightedSqNorm", "sum", "gram"][k]} were modified`);
        }
      }
    },
    async abort(): Promise<void> {
      const resolved = resolve();
      const [f] = await makeBlock(resolved, seed);
      const ac = new AbortController();
      ac.abort();
      let thrown: unknown;
      let threw = false;
      try {
        await run(resolved, f!, 0.5, ac.signal);
      } catch (e) {
        threw = true;
        thrown = e;
      }
      if (!threw) fail(`${f!.name}: pruneLinear resolved although the signal was aborted`);
      if (!isPruneError(thrown, "ABORTED")) {
        const what = thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : String(thrown);
        fail(`${f!.name}: expected a PruneError with code ABORTED, got ${what}`);
      }
    },
  };

  return METHOD_CONFORMANCE_CHECKS.map(({ id, description }) => {
    const reason = expected[id];
    const name = `${label} method conformance: ${description}${reason === undefined ? "" : ` [expected failure: ${reason}]`}`;
    const body = bodies[id];
    const runCheck =
      reason === undefined
        ? body
        : async (): Promise<void> => {
            let passed = false;
            try {
              await body();
              passed = true;
            } catch {
              // the expected failure happened
            }
            if (passed) {
              throw new MethodConformanceFailure(
                `${label}: check "${id}" is listed in expectedFailures (${reason}) but passed; remove it from the list`,
              );
            }
          };
    return { name, id, run: runCheck };
  });
}
