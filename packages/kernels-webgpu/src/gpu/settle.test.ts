import { describe, expect, it } from "vitest";
import { createSettler } from "./settle.ts";

describe("createSettler", () => {
  it("sleeps with Atomics.wait on Node and resolves and rejects like the promise", async () => {
    const s = createSettler({ sleepMs: 1 });
    expect(s.mode).toBe("sleep");
    const later = new Promise<number>((r) => setTimeout(() => r(42), 10));
    expect(await s.settle(later)).toBe(42);
    await expect(s.settle(Promise.reject(new Error("boom")))).rejects.toThrow("boom");
  });

  it("falls back to a plain await when asked", async () => {
    const s = createSettler({ mode: "await" });
    expect(s.mode).toBe("await");
    expect(await s.settle(Promise.resolve("x"))).toBe("x");
    expect(() => createSettler({ sleepMs: -1 })).toThrow(RangeError);
  });
});
