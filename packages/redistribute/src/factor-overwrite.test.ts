import { createWasmBackend } from "@mama-prune/compute-wasm";
import { describe, expect, it } from "vitest";
import { activationLikeHessian } from "../test/helpers.ts";
import { sparseGptFactor } from "./sparsegpt.ts";

describe("sparseGptFactor({ overwriteHessian })", () => {
  it("factors in H's own buffer on the backend path: the copy's factor bit for bit (dead input, escalation)", async () => {
    const n = 520; // ≥ 512: the blocked factorisation on the backend
    const backend = await createWasmBackend();
    try {
      for (const percdamp of [0.01, 0]) {
        // percdamp 0 on a rank-deficient H (fewer tokens than columns) fails first and escalates.
        const h = activationLikeHessian(percdamp === 0 ? 300 : 900, n, 61, { dead: [7] });
        const ref = await sparseGptFactor(h, n, { backend, percdamp });
        const given = new Float64Array(h);
        const got = await sparseGptFactor(given, n, { backend, percdamp, overwriteHessian: true });
        expect(got.upper).toBe(given);
        expect(got.relDamping).toBe(ref.relDamping);
        expect(got.warnings).toEqual(ref.warnings);
        expect(Array.from(got.upper)).toEqual(Array.from(ref.upper));
        if (percdamp === 0) expect(ref.warnings.length).toBeGreaterThan(0);
        // Without a backend (float64 JS path) H is left alone.
        const kept = new Float64Array(h);
        const js = await sparseGptFactor(kept, n, {
          percdamp,
          overwriteHessian: true,
          backendMinCols: n + 1,
          backend,
        });
        expect(js.upper).not.toBe(kept);
        expect(Array.from(kept)).toEqual(Array.from(h));
      }
    } finally {
      await backend.dispose?.();
    }
  });
});
