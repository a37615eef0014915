import { createRng, isPruneError } from "@mama-prune/core";
import {
  type ScoreContext,
  type ScorerInput,
  type ScorerPlugin,
  validateScorerMetadata,
} from "../contract.ts";
import { restrictContext } from "../run-scorer.ts";
import {
  CONFORMANCE_SHAPES,
  type ConformanceInputs,
  type ConformanceInputsOverride,
  cloneInputs,
  fullContext,
  makeConformanceInputs,
  permuteColumns,
} from "./fixtures.ts";

/** Ids of the conformance checks, usable as keys of `expectedFailures`. */
export type ConformanceCheckId =
  | "metadata"
  | "finite-scores"
  | "no-mutation"
  | "deterministic"
  | "declared-inputs"
  | "abort"
  | "permutation-equivariant";

/** Every check id with its description, in run order. */
export const CONFORMANCE_CHECKS: readonly {
  readonly id: ConformanceCheckId;
  readonly description: string;
}[] = [
  { id: "metadata", description: "has valid metadata" },
  { id: "finite-scores", description: "returns one finite score per weight across shapes [1,1]..[64,17]" },
  { id: "no-mutation", description: "does not mutate its inputs" },
  { id: "deterministic", description: "gives identical scores for identical inputs" },
  { id: "declared-inputs", description: "works with only its declared inputs and reads no other" },
  { id: "abort", description: "rejects with PruneError ABORTED when the signal is aborted" },
  { id: "permutation-equivariant", description: "is permutation-equivariant under a column permutation" },
];

/** One runner-independent check: `it(c.name, c.run)` or `Deno.test(c.name, c.run)`. */
export interface ConformanceCheck {
  /** `<plugin> conformance: <description>` (plus the reason when it is an expected failure). */
  readonly name: string;
  readonly id: ConformanceCheckId;
  /** Resolves when the check passes (or an expected failure fails); rejects with an explanation otherwise. */
  run(): Promise<void>;
}

/** Options of {@link scorerConformance}. */
export interface ConformanceOptions {
  /** `{ [checkId]: reason }`: checks known to fail. One that passes fails the run, so the list stays honest. */
  readonly expectedFailures?: Readonly<Partial<Record<ConformanceCheckId, string>>>;
  /** Override generated fixture inputs (e.g. pre-weights with a particular relation to W). */
  readonly inputs?: ConformanceInputsOverride;
  /** Fixture seed, default 0. */
  readonly seed?: number;
}

const INPUT_KEY: Record<Exclude<ScorerInput, "weights">, keyof ScoreContext> = {
  "activation-norms": "activationNorms",
  "activation-mean": "activationMean",
  "sample-weighted-activation-norms": "sampleWeightedActivationNorms",
  "pre-weights": "preWeight",
  gradients: "gradients",
};

class ConformanceFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConformanceFailure";
  }
}

function fail(message: string): never {
  throw new ConformanceFailure(message);
}

function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "object") return (v as { constructor?: { name?: string } }).constructor?.name ?? "object";
  return typeof v;
}

async function callScore(plugin: ScorerPlugin, ctx: ScoreContext, where: string): Promise<Float32Array> {
  let out: unknown;
  try {
    out = await plugin.score(ctx);
  } catch (e) {
    fail(`${where}: score() threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
  const { rows, cols } = ctx.weight;
  if (!(out instanceof Float32Array)) fail(`${where}: expected a Float32Array, got ${describeValue(out)}`);
  if (out.length !== rows * cols) {
    fail(
      `${where}: expected ${rows * cols} scores (one per weight of [${rows}, ${cols}]), got ${out.length}`,
    );
  }
  return out;
}

function sameBits(a: Float32Array, b: Float32Array): number {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

function snapshot(x: ConformanceInputs): Float32Array[] {
  return [
    x.weight.data,
    x.activationNorms,
    x.activationMean,
    x.sampleWeightedActivationNorms,
    x.preWeight.data,
    x.gradients.data,
  ].map((a) => a.slice());
}

const SNAPSHOT_LABELS = [
  "weight",
  "activation-norms",
  "activation-mean",
  "sample-weighted-activation-norms",
  "pre-weights",
  "gradients",
];

/**
 * The conformance kit: named, runner-independent checks any scorer plugin should pass.
 *
 * Abort contract: with an already-aborted `ctx.signal`, `score()` must throw or reject with a
 * `PruneError` of code `ABORTED` (core's `throwIfAborted` does that). A DOM `AbortError` fails
 * this check; `runScorer` rewraps one, but plugins should not rely on it.
 *
 * @throws RangeError when `expectedFailures` names an unknown check.
 * @example
 * for (const c of scorerConformance(wanda())) it(c.name, c.run);        // vitest
 * for (const c of scorerConformance(wanda())) Deno.test(c.name, c.run); // Deno
 */
export function scorerConformance(
  plugin: ScorerPlugin,
  options: ConformanceOptions = {},
): ConformanceCheck[] {
  const expected = options.expectedFailures ?? {};
  const known = CONFORMANCE_CHECKS.map((c) => c.id) as string[];
  for (const k of Object.keys(expected)) {
    if (!known.includes(k)) {
      throw new RangeError(
        `scorerConformance: expectedFailures has unknown check "${k}"; known: ${known.join(", ")}`,
      );
    }
  }
  const seed = options.seed ?? 0;
  const label = typeof plugin?.name === "string" ? plugin.name : "<unnamed scorer>";
  const fixture = (shapeIndex: number): ConformanceInputs => {
    const [r, c] = CONFORMANCE_SHAPES[shapeIndex]!;
    return makeConformanceInputs(r, c, seed * 1000 + shapeIndex, options.inputs);
  };
  const declaredCtx = (x: ConformanceInputs, tensor: string, signal?: AbortSignal): ScoreContext =>
    restrictContext(plugin, fullContext(tensor, x, signal));
  const tensorName = (i: number): string => {
    const [r, c] = CONFORMANCE_SHAPES[i]!;
    return `conformance.fixture_${r}x${c}.weight`;
  };

  const bodies: Record<ConformanceCheckId, () => Promise<void>> = {
    async metadata(): Promise<void> {
      const problems = validateScorerMetadata(plugin);
      if (problems.length > 0) fail(`metadata: ${problems.join(" ")}`);
    },
    async "finite-scores"(): Promise<void> {
      for (let s = 0; s < CONFORMANCE_SHAPES.length; s++) {
        const x = fixture(s);
        const where = tensorName(s);
        const out = await callScore(plugin, declaredCtx(x, where), where); // (rows * cols,)
        if (out.length > 0 && out.buffer === x.weight.data.buffer)
          fail(`${where}: the scores alias the weight's memory`);
        for (let i = 0; i < out.length; i++) {
          if (!Number.isFinite(out[i]!)) fail(`${where}: score ${i} is not finite (got ${out[i]})`);
        }
      }
    },
    async "no-mutation"(): Promise<void> {
      for (let s = 0; s < CONFORMANCE_SHAPES.length; s++) {
        const x = fixture(s);
        const before = snapshot(x);
        const where = tensorName(s);
        await callScore(plugin, declaredCtx(x, where), where);
        const after = snapshot(x);
        for (let k = 0; k < before.length; k++) {
          const i = sameBits(before[k]!, after[k]!);
          if (i >= 0) fail(`${where}: score() mutated input ${SNAPSHOT_LABELS[k]} at index ${i}`);
        }
      }
    },
    async deterministic(): Promise<void> {
      for (let s = 0; s < CONFORMANCE_SHAPES.length; s++) {
        const x = fixture(s);
        const where = tensorName(s);
        const a = await callScore(plugin, declaredCtx(cloneInputs(x), where), where); // (rows * cols,)
        const b = await callScore(plugin, declaredCtx(cloneInputs(x), where), where); // (rows * cols,)
        const c = await callScore(plugin, declaredCtx(x, where), where); // (rows * cols,)
        const i = Math.max(sameBits(a, b), sameBits(a, c));
        if (i >= 0)
          fail(`${where}: two runs on identical inputs differ at score ${i} (${a[i]} vs ${b[i]}, ${c[i]})`);
      }
    },
    async "declared-inputs"(): Promise<void> {
      const declared = new Set<string>(
        plugin.requires
          .filter((r) => r !== "weights")
          .map((r) => INPUT_KEY[r as Exclude<ScorerInput, "weights">]),
      );
      const undeclared = new Set<string>(Object.values(INPUT_KEY).filter((k) => !declared.has(k)));
      for (let s = 0; s < CONFORMANCE_SHAPES.length; s++) {
        const x = fixture(s);
        const where = tensorName(s);
        // 1. With every input present, reading an undeclared one is caught through a proxy.
        const touched = new Set<string>();
        const watch = (target: ScoreContext): ScoreContext =>
          new Proxy(target, {
            get(t, key, recv): unknown {
              if (typeof key === "string" && undeclared.has(key)) touched.add(key);
              return Reflect.get(t, key, recv);
            },
            has(t, key): boolean {
              if (typeof key === "string" && undeclared.has(key)) touched.add(key);
              return Reflect.has(t, key);
            },
          });
        // (rows * cols,)
        const withAll = await callScore(
          plugin,
          watch(fullContext(where, cloneInputs(x))),
          `${where} (all inputs)`,
        );
        if (touched.size > 0) fail(`${where}: score() read undeclared input(s) ${[...touched].join(", ")}`);
        // 2. With only the declared inputs, it works and gives the same scores.
        const only = await callScore(plugin, declaredCtx(x, where), `${where} (declared inputs only)`); // (rows * cols,)
        for (let i = 0; i < only.length; i++) {
          if (!Number.isFinite(only[i]!))
            fail(`${where}: with declared inputs only, score ${i} is ${only[i]}`);
        }
        const i = sameBits(withAll, only);
        if (i >= 0) {
          fail(
            `${where}: scores depend on undeclared inputs (score ${i}: ${withAll[i]} with all, ${only[i]} with declared)`,
          );
        }
      }
    },
    async abort(): Promise<void> {
      const x = fixture(CONFORMANCE_SHAPES.length - 1);
      const where = tensorName(CONFORMANCE_SHAPES.length - 1);
      const ac = new AbortController();
      ac.abort();
      let thrown: unknown;
      let threw = false;
      try {
        await plugin.score(declaredCtx(x, where, ac.signal));
      } catch (e) {
        threw = true;
        thrown = e;
      }
      if (!threw) fail(`${where}: score() resolved although the signal was aborted`);
      if (!isPruneError(thrown, "ABORTED")) {
        const what = thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : String(thrown);
        fail(`${where}: expected a PruneError with code ABORTED, got ${what}`);
      }
    },
    async "permutation-equivariant"(): Promise<void> {
      for (let s = 0; s < CONFORMANCE_SHAPES.length; s++) {
        const x = fixture(s);
        const { rows, cols } = x.weight;
        if (cols < 2) continue;
        const rng = createRng(seed + 77 + s);
        const perm = Array.from({ length: cols }, (_, j) => j);
        for (let j = cols - 1; j > 0; j--) {
          const k = rng.int(j + 1);
          [perm[j], perm[k]] = [perm[k]!, perm[j]!];
        }
        const where = tensorName(s);
        const base = await callScore(plugin, declaredCtx(cloneInputs(x), where), where); // (rows * cols,)
        // (rows * cols,)
        const permuted = await callScore(
          plugin,
          declaredCtx(permuteColumns(x, perm), where),
          `${where} (permuted)`,
        );
        let scale = 0;
        for (let i = 0; i < base.length; i++) scale = Math.max(scale, Math.abs(base[i]!));
        for (let i = 0; i < rows; i++) {
          for (let j = 0; j < cols; j++) {
            const a = permuted[i * cols + j]!;
            const b = base[i * cols + perm[j]!]!;
            const tol = 1e-5 * Math.max(Math.abs(a), Math.abs(b)) + 1e-6 * scale;
            if (!(Math.abs(a - b) <= tol)) {
              fail(
                `${where}: permuting columns did not permute the scores: row ${i}, permuted column ${j} (original ${perm[j]}) scores ${a}, expected ${b}`,
              );
            }
          }
        }
      }
    },
  };

  return CONFORMANCE_CHECKS.map(({ id, description }) => {
    const reason = expected[id];
    const name = `${label} conformance: ${description}${reason === undefined ? "" : ` [expected failure: ${reason}]`}`;
    const body = bodies[id];
    const run =
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
              throw new ConformanceFailure(
                `${label}: check "${id}" is listed in expectedFailures (${reason}) but passed; remove it from the list`,
              );
            }
          };
    return { name, id, run };
  });
}
