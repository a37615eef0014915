import { describe, expect, it } from "vitest";
import { randomMask } from "../test/helpers.ts";
import { chooseRefitSolver, refitCost } from "./refit-solver.ts";

describe("refitCost / chooseRefitSolver", () => {
  it("counts mask groups and solve rows, and the costs by their formulas", () => {
    // rows: kept {0,2} / same / all kept / all pruned / kept {0}
    const mask = new Uint8Array([1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0]);
    const c = refitCost(5, 4, mask);
    expect(c.maskGroups).toBe(2);
    expect(c.solveRows).toBe(3);
    expect(c.directMultiplyAdds).toBeCloseTo(64 / 6 + 8 / 6 + 1 / 6 + (4 + 4 + 3), 10);
    expect(c.pcgMultiplyAddsPerIteration).toBe(3 * 16);
    expect(c.pcgSetupMultiplyAdds).toBe((6 + 12) * 16);
  });

  it("picks the direct solve when cheap, PCG on wide unstructured layers, never OBS", () => {
    expect(chooseRefitSolver(64, 172, randomMask(64, 172, 0.5, 1)).solver).toBe("direct");
    const wide = chooseRefitSolver(64, 4096, randomMask(64, 4096, 0.5, 2));
    expect(wide.solver).toBe("pcg"); // 64·2048³/6 ≈ 9e10 > 1e10
    expect(wide.reason).toContain("PCG");
    // A shared (column) mask is one group: cheap even when wide.
    const col = new Uint8Array(64 * 2048);
    for (let i = 0; i < col.length; i++) col[i] = i % 2;
    expect(chooseRefitSolver(64, 2048, col).solver).toBe("direct");
    expect(chooseRefitSolver(64, 2048, col, { maxDirectMultiplyAdds: 0 }).solver).toBe("pcg");
    expect(() => refitCost(2, 2, new Uint8Array(3))).toThrow(RangeError);
  });
});
