// Deno smoke test of the runtime-neutral entry: single-threaded and Web Worker backends against a
// scalar reference. Run: npm run test:deno (exits non-zero on a mismatch).
import { createWasmBackend, createWasmBackendWorkers, isWasmSimdSupported } from "../../src/index.ts";

function uniform(length: number, seed: number): Float32Array {
  const a = new Float32Array(length); // (length,)
  let s = seed >>> 0;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}

function check(label: string, ok: boolean, detail: string): void {
  if (!ok) throw new Error(`${label}: ${detail}`);
  console.log(`ok - ${label} (${detail})`);
}

check("isWasmSimdSupported", isWasmSimdSupported(), "true");
const single = await createWasmBackend();
const [m, k, n] = [129, 127, 257];
const x = uniform(m * k, 1); // (m, k)
const w = uniform(n * k, 2); // (n, k)
const a = await single.matmulTransB(x, w, m, k, n);
let err = 0;
for (let i = 0; i < m; i++) {
  for (let j = 0; j < n; j++) {
    let s = 0;
    let t = 0;
    for (let q = 0; q < k; q++) {
      const p = (x[i * k + q] as number) * (w[j * k + q] as number);
      s += p;
      t += Math.abs(p);
    }
    err = Math.max(err, Math.abs(s - (a[i * n + j] as number)) / t);
  }
}
check("single-threaded matmul vs scalar reference", err < 2e-5, `max rel err ${err.toExponential(2)}`);

for (const wait of ["async", "block"] as const) {
  const threaded = await createWasmBackendWorkers({ threads: 3, wait });
  const b = await threaded.matmulTransB(x, w, m, k, n);
  check(
    `Web Workers (${wait}) matmul == single-threaded`,
    a.every((v, i) => Object.is(v, b[i])),
    threaded.name,
  );
  const g1 = new Float64Array(k * k);
  const g2 = new Float64Array(k * k);
  const xs = uniform(520 * k, 3);
  await single.gramAccumulate(xs, 520, k, g1);
  await threaded.gramAccumulate(xs, 520, k, g2);
  check(
    `Web Workers (${wait}) Gram == single-threaded`,
    g1.every((v, i) => Object.is(v, g2[i])),
    "bitwise",
  );
  await threaded.dispose();
}
await single.dispose();
