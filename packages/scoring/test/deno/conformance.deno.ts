// Runs the conformance kit under Deno against the TypeScript sources:
//   deno test packages/scoring/test/deno/conformance.deno.ts
// (named *.deno.ts so vitest does not pick it up; the Deno global is declared for tsc).
import { throwIfAborted } from "@mama-prune/core";
import { scorerConformance } from "../../src/conformance/index.ts";
import type { ScorerPlugin } from "../../src/index.ts";
import { builtinScorers, mama, movement, ria, wanda } from "../../src/index.ts";

declare const Deno: { test(name: string, fn: () => Promise<void>): void };

const plugins: ScorerPlugin[] = [
  ...builtinScorers(),
  wanda({ activations: "sample-weighted" }),
  movement({ source: "gradients" }),
  ria({ useActivations: false }),
  mama({ useMovement: true, normalize: "zscore", group: "matrix" }),
];
for (const p of plugins) for (const c of scorerConformance(p)) Deno.test(c.name, c.run);

/** A third-party-style plugin, exactly as a plugin author would test it. */
const thirdParty: ScorerPlugin = {
  name: "acme/abs-times-mean",
  apiVersion: 1,
  granularity: "element",
  requires: ["activation-mean"],
  score(ctx) {
    throwIfAborted(ctx.signal, "acme/abs-times-mean");
    const { rows, cols, data } = ctx.weight;
    const mean = ctx.activationMean!; // (cols,)
    const out = new Float32Array(rows * cols); // (rows, cols)
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) out[i * cols + j] = Math.abs(data[i * cols + j]! * mean[j]!);
    }
    return out;
  },
};
for (const c of scorerConformance(thirdParty, { expectedFailures: {} })) Deno.test(c.name, c.run);
