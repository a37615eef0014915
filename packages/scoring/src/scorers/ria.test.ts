import { createRng } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { expectClose as close, ctxOf, m } from "../../test/helpers.ts";
import { ria } from "./ria.ts";

describe("ria", () => {
  const w = m([
    [1, 3],
    [1, 0],
  ]);
  it("scores relative importance without activations (hand-computed)", async () => {
    // col sums [2, 3], row sums [4, 1]: 1/2+1/4, 3/3+3/4, 1/2+1/1, 0
    close(await ria({ useActivations: false }).score(ctxOf(w)), [0.75, 1.75, 1.5, 0]);
  });
  it("multiplies by ‖X_j‖₂^a (a = 0.5 by default)", async () => {
    close(await ria().score(ctxOf(w, { activationNorms: new Float32Array([4, 9]) })), [1.5, 5.25, 3, 0]);
    close(
      await ria({ a: 1 }).score(ctxOf(w, { activationNorms: new Float32Array([4, 9]) })),
      [3, 15.75, 6, 0],
    );
  });
  it("gives 0, not NaN, for all-zero rows and columns", async () => {
    const s = await ria({ useActivations: false }).score(
      ctxOf(
        m([
          [0, 1],
          [0, 0],
        ]),
      ),
    );
    close(s, [0, 2, 0, 0]);
  });
  it("matches a direct evaluation of the formula on a random matrix", async () => {
    const rng = createRng(9);
    const [r, c] = [6, 5];
    const data = Float32Array.from({ length: r * c }, () => rng.normal());
    const norms = Float32Array.from({ length: c }, () => Math.abs(rng.normal()) + 0.1);
    const s = await ria({ a: 0.7 }).score(ctxOf({ rows: r, cols: c, data }, { activationNorms: norms }));
    for (let i = 0; i < r; i++)
      for (let j = 0; j < c; j++) {
        let col = 0;
        let row = 0;
        for (let k = 0; k < r; k++) col += Math.abs(data[k * c + j]!);
        for (let k = 0; k < c; k++) row += Math.abs(data[i * c + k]!);
        const x = Math.abs(data[i * c + j]!);
        expect(s[i * c + j]).toBeCloseTo((x / col + x / row) * norms[j]! ** 0.7, 5);
      }
  });
});
