import { type Matrix, SILENT_LOGGER } from "@mama-prune/core";
import { expect } from "vitest";
import type { ScoreContext } from "../src/contract.ts";

/** Test helper: a Matrix from nested rows. */
export function m(rows: number[][]): Matrix {
  const r = rows.length;
  const c = rows[0]?.length ?? 0;
  return { rows: r, cols: c, data: Float32Array.from(rows.flat()) };
}

/** Test helper: a context with a silent logger. */
export function ctxOf(weight: Matrix, extra: Partial<ScoreContext> = {}): ScoreContext {
  return { name: "model.layers.0.mlp.up_proj.weight", weight, log: SILENT_LOGGER, ...extra };
}

/** Test helper: element-wise |a − b| ≤ tol, with equal lengths. */
export function expectClose(a: Float32Array, b: number[], tol = 1e-6): void {
  expect(a.length).toBe(b.length);
  for (const [i, v] of a.entries())
    expect(Math.abs(v - b[i]!), `index ${i}: ${v} vs ${b[i]}`).toBeLessThanOrEqual(tol);
}
