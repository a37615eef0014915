import { createRng, kthSmallest } from "@mama-prune/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { floatKey, radixArgsort } from "./select-kth.ts";

const sortedCopy = (a: Float32Array): Float32Array => Float32Array.from(a).sort();

describe("core kthSmallest on float32 scores (below its radix cutover)", () => {
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
        const got = kthSmallest(a.slice(), k);
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
          const got = kthSmallest(a.slice(), k);
          const want = sortedCopy(a)[k]!;
          return got === want; // -0 === +0
        },
      ),
      { seed: 7, numRuns: 300 },
    );
  });

  it("rejects k out of range", () => {
    expect(() => kthSmallest(new Float32Array(3), 3)).toThrow(RangeError);
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

describe("core kthSmallest on float32 scores, around its 2048 radix cutover", () => {
  it("equals the k-th element of a sorted copy (−0 === +0) on random and adversarial arrays, above and below the 2048 cutover", () => {
    const rng = createRng(7);
    for (const n of [1, 37, 511, 512, 513, 2047, 2048, 2049, 4096, 11008]) {
      const patterns: Record<string, (i: number) => number> = {
        random: () => rng.normal(),
        wandaLike: () => Math.abs(rng.normal()) * Math.exp(rng.normal()),
        ties: () => rng.int(3) - 1,
        ascending: (i) => i,
        descending: (i) => -i,
        constant: () => -7,
        signedZeros: (i) => (i % 3 === 0 ? 0 : i % 3 === 1 ? -0 : rng.normal()),
        extremes: (i) =>
          [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-45, -1e-45, 3.4e38, -3.4e38][i % 6]! *
          (i % 7 === 0 ? 1 : 0.5),
        sameTopBits: () => 1 + rng.next() * 1e-6, // every key in one first-pass bucket
      };
      for (const [name, f] of Object.entries(patterns)) {
        const a = Float32Array.from({ length: n }, (_, i) => f(i));
        const ref = sortedCopy(a);
        for (const k of new Set([0, 1, n >> 2, n >> 1, n - 2, n - 1].filter((x) => x >= 0 && x < n))) {
          const got = kthSmallest(a.slice(), k);
          expect(got === ref[k], `${name} n=${n} k=${k}: ${got} vs ${ref[k]}`).toBe(true);
        }
      }
    }
  });

  it("agrees with sorting for arbitrary float32 arrays of 512 to 2000 values (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ noNaN: true }), { minLength: 512, maxLength: 2000 }),
        fc.nat(),
        (xs, kk) => {
          const a = Float32Array.from(xs);
          const k = kk % a.length;
          const ref = sortedCopy(a);
          return kthSmallest(a.slice(), k) === ref[k];
        },
      ),
      { numRuns: 60 },
    );
  });

  it("refuses k outside the array", () => {
    expect(() => kthSmallest(new Float32Array(600), 600)).toThrow(/k=600 is outside \[0, 599\]/);
    expect(() => kthSmallest(new Float32Array(600), -1)).toThrow(/outside/);
  });
});
