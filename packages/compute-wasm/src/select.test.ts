import { type ComputeBackend, createMemoryLogger, isPruneError, PruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { createWasmBackend } from "./backend.ts";
import { selectComputeBackend } from "./select.ts";

const unavailable = (): never => {
  throw new PruneError("BACKEND_UNAVAILABLE", "test: not here");
};
const fake = (name: string): ComputeBackend => ({
  name,
  matmulTransB: async () => new Float32Array(0),
  gramAccumulate: async () => {},
  colSqNormAccumulate: async () => {},
  invalidate: () => {},
});

describe("selectComputeBackend", () => {
  it("returns the first available candidate and logs the skipped ones", async () => {
    const logger = createMemoryLogger();
    const b = await selectComputeBackend([unavailable, () => createWasmBackend(), () => fake("js")], {
      logger,
    });
    expect(b.name).toBe("wasm-simd x1");
    expect(logger.records.map((r) => r.message)).toEqual([
      "compute backend candidate 0 unavailable",
      "compute backend: wasm-simd x1",
    ]);
    await b.dispose?.();
  });

  it("rethrows errors other than BACKEND_UNAVAILABLE", async () => {
    await expect(
      selectComputeBackend([
        () => {
          throw new TypeError("bug");
        },
        () => fake("js"),
      ]),
    ).rejects.toThrow(TypeError);
  });

  it("fails with BACKEND_UNAVAILABLE listing the reasons when nothing is available", async () => {
    let err: unknown;
    try {
      await selectComputeBackend([unavailable, unavailable]);
    } catch (e) {
      err = e;
    }
    expect(isPruneError(err, "BACKEND_UNAVAILABLE")).toBe(true);
    expect(String(err)).toMatch(/Expected at least one of 2, got none \(test: not here; test: not here\)/);
    await expect(selectComputeBackend([])).rejects.toThrow(RangeError);
  });
});
