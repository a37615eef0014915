import { createRng } from "@mama-prune/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { floatKey, radixArgsort, selectKth } from "./select-kth.ts";

const sortedCopy = (a: Float32Array): Float32Array => Float32Array.from(a).sort();

describe("selectKth", () => {
  it("equals the k-th element of a sorted copy on random and adversarial arrays", () => {
    const rng = createRng(1);
    const n = 500;
    const patterns: Record<string, (i: number) => number> = {
      random: () => rng.normal(),
      ties: () => rng.int(3),
      ascending: (i) => i,
      descending: (i) => -i,
      constant: () => 7,
      organPipe: (i) => Math.min(i, n - i),
      sawtooth: (i) => i % 10,
      signedZeros: (i) => (i % 2 === 0 ? 0 : -0),
    };
    for (const [name, f] of Object.entries(patterns)) {
      const a = Float32Array.from({ length: n }, (_, i) => f(i));
      const ref = sortedCopy(a);
      for (const k of [0, 1, 17, n >> 1, n - 2, n - 1]) {
        const got = selectKth(a.slice(), k);
        expect(got === ref[k], `${name} k=${k}: ${got} vs ${ref[k]}`).toBe(true); // -0 === +0 on purpose
      }
    }
  });

  it("agrees with sorting for arbitrary float32 arrays (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ noNaN: true }), { minLength: 1, maxLength: 200 }),
        fc.nat(),
        (xs, kk) => {
          const a = Float32Array.from(xs);
          const k = kk % a.length;
          const got = selectKth(a.slice(), k);
          const want = sortedCopy(a)[k]!;
          return got === want; // -0 === +0
        },
      ),
      { seed: 7, numRuns: 300 },
    );
  });

  it("rejects k out of range", () => {
    expect(() => selectKth(new Float32Array(3), 3)).toThrow(RangeError);
  });
});

describe("floatKey", () => {
  it("is monotone over float32 values and ties -0 with +0", () => {
    const xs = [-Infinity, -3.4e38, -1, -1e-45, -0, 0, 1e-45, 1, 3.4e38, Infinity];
    for (let i = 1; i < xs.length; i++) {
      const [a, b] = [floatKey(xs[i - 1]!), floatKey(xs[i]!)];
      if (Object.is(xs[i - 1], -0)) expect(a).toBe(b);
      else expect(a).toBeLessThan(b);
    }
  });
});

describe("radixArgsort", () => {
  it("orders keys ascending and keeps equal keys in index order (stable)", () => {
    const rng = createRng(2);
    const n = 300;
    const vals = Float32Array.from({ length: n }, () => rng.int(20) - 10 + (rng.next() < 0.5 ? 0 : 0.5));
    const keys = Uint32Array.from(vals, floatKey);
    const idx = new Uint32Array(n);
    radixArgsort(keys, n, idx, new Uint32Array(n), new Uint32Array(n));
    const ref = Array.from({ length: n }, (_, i) => i).sort((a, b) => vals[a]! - vals[b]! || a - b);
    expect(Array.from(idx)).toEqual(ref);
  });
});
