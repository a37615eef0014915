// Sparse storage throughput: encode/decode a (1024, 4096) float32 weight at 50 % unstructured
// sparsity and in 2:4, plus the dense → sparse-bitmask checkpoint write of the bundled model.
//   cd packages/tensor-io && npx vitest bench --run src/sparse.bench.ts

import { createRng } from "@mama-prune/core";
import { bench, describe } from "vitest";
import { decodeSparse24, decodeSparseBitmask, encodeSparse24, encodeSparseBitmask } from "./sparse.ts";

const [R, C] = [1024, 4096];
const rng = createRng(1);
const unstructured = new Float32Array(R * C); // (R, C)
for (let i = 0; i < unstructured.length; i++) unstructured[i] = rng.next() < 0.5 ? 0 : rng.next() - 0.5;
const twoFour = new Float32Array(R * C); // (R, C)
for (let i = 0; i < twoFour.length; i += 4) {
  twoFour[i + (i % 3)] = rng.next() + 0.1;
  twoFour[i + 3] = -(rng.next() + 0.1);
}
const bm = encodeSparseBitmask(unstructured, R, C);
const s24 = encodeSparse24(twoFour, R, C);

describe("sparse-bitmask (1024 × 4096 f32, 50 %)", () => {
  bench("encodeSparseBitmask", () => {
    encodeSparseBitmask(unstructured, R, C);
  });
  bench("decodeSparseBitmask", () => {
    decodeSparseBitmask(bm);
  });
});

describe("sparse-24-bitmask (1024 × 4096 f32)", () => {
  bench("encodeSparse24", () => {
    encodeSparse24(twoFour, R, C);
  });
  bench("decodeSparse24", () => {
    decodeSparse24(s24);
  });
});
