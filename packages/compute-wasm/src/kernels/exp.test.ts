// The f64x2 exp of the attention kernel against Math.exp (V8's fdlibm exp), bit for bit.

import { createRng } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { encodeModule } from "../wasm-encoder.ts";
import { type ExpDomain, expTestKernel } from "./exp.ts";

async function wasmExp(domain: ExpDomain = "nonpositive"): Promise<(xs: Float64Array) => Float64Array> {
  const bytes = encodeModule({
    memory: { minPages: 1, maxPages: 1024, shared: false },
    functions: [expTestKernel(domain)],
  });
  const memory = new WebAssembly.Memory({ initial: 600, maximum: 1024 });
  const { exports } = await WebAssembly.instantiate(await WebAssembly.compile(bytes), { env: { memory } });
  const f = exports["exp64x2"] as (p: number, n: number) => void;
  return (xs) => {
    const a = new Float64Array(memory.buffer, 64, xs.length);
    a.set(xs);
    f(64, xs.length);
    return Float64Array.from(a);
  };
}

describe("exp64x2 (fdlibm's exp on f64x2 lanes)", () => {
  it("equals Math.exp bit for bit on x ≤ 0: every branch, the subnormal and underflow ranges, and edges", async () => {
    const exp = await wasmExp();
    const rng = createRng(5);
    const n = 1 << 20;
    const xs = new Float64Array(n);
    const spans = [1e-9, 3e-8, 0.34, 0.36, 1.05, 2, 30, 700, 709.8, 745.2, 760];
    for (let i = 0; i < n; i++) xs[i] = -rng.next() * spans[i % spans.length]!;
    // The branch bounds of fdlibm (high words 0x3FD62E43, 0x3FF0A2B2, 0x3E300000, and the underflow
    // bound), densely: ±2⁻²⁰ and ±2⁻²⁹ relative around each.
    const bounds = [0.3465735912322998, 0.5 * Math.LN2, 1.0397207708399179, 2 ** -28, 745.1332191019411];
    for (let i = 0; i < 1 << 16; i++) {
      const b = bounds[i % bounds.length]!;
      xs[n - 1 - i] = -b * (1 + (rng.next() - 0.5) * 2 ** (i % 2 === 0 ? -19 : -28));
    }
    const edges = [
      0,
      -0,
      -Infinity,
      -1,
      -745.1,
      -745.2,
      -745.1332191019411,
      -709.78,
      -709.79,
      -708.4,
      -(2 ** -28),
      -(2 ** -28) * 0.999,
      -0.5 * Math.LN2,
      -0.34657359027997264,
      -1.5 * Math.LN2,
      -1.0397207708399179,
      -Number.MIN_VALUE,
      -1e-300,
    ];
    xs.set(edges);
    const got = exp(xs);
    let bad = 0;
    for (let i = 0; i < n; i++) if (!Object.is(got[i], Math.exp(xs[i]!))) bad++;
    expect(bad).toBe(0);
    expect(got[2]).toBe(0); // −∞
    expect(Number.isNaN(exp(Float64Array.of(Number.NaN, 0))[0])).toBe(true);
  });

  it("`all`: equals Math.exp bit for bit on both signs: exp(1), the k = 1024 band, overflow, NaN", async () => {
    const exp = await wasmExp("all");
    const rng = createRng(6);
    const n = 1 << 20;
    const xs = new Float64Array(n);
    const spans = [1e-9, 3e-8, 0.34, 0.36, 1.05, 2, 30, 700, 709.8, 745.2, 760];
    for (let i = 0; i < n; i++) xs[i] = (rng.next() - 0.5) * 2 * spans[i % spans.length]!;
    for (let i = 0; i < 4096; i++) xs[i] = 709.4 + rng.next() * 0.4; // k = 1024 and the overflow bound
    const edges = [
      0,
      -0,
      1,
      -1,
      Infinity,
      -Infinity,
      709.78,
      709.79,
      709.782712893384,
      709.7827128933841,
      0.5 * Math.LN2,
      0.34657359027997264,
      1.5 * Math.LN2,
      1.0397207708399179,
      2 ** -28,
      -745.2,
      -745.1,
      Number.MIN_VALUE,
      88.72,
      -88.72,
    ];
    xs.set(edges, 4096);
    const got = exp(xs);
    let bad = 0;
    for (let i = 0; i < n; i++) if (!Object.is(got[i], Math.exp(xs[i]!))) bad++;
    expect(bad).toBe(0);
    expect(got[4096 + 2]).toBe(Math.E);
    expect(Number.isNaN(exp(Float64Array.of(Number.NaN, 1))[0])).toBe(true);
  });
});
