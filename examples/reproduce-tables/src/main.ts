// Reproduce the paper's Table 1 and Table 2 on the bundled stories260K model and TinyStories text:
// `npm start -w @mama-prune-examples/reproduce-tables` writes results/table1-weights.{md,json} and
// results/table2-methods.{md,json} at the repository root.
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { createDefaultCpuBackend } from "@mama-prune/compute-wasm/node";
import { type ComputeBackend, sha256Hex } from "@mama-prune/core";
import { createCpuBackend, createLlama2cTokenizer } from "@mama-prune/model";
import { readLlama2c, readLlama2cTokenizer } from "@mama-prune/tensor-io";
import {
  reproduceMovementTable,
  reproduceTables,
  type TableData,
  type TablesResult,
  tableMarkdown,
  writeTables,
} from "./tables.ts";

const root = fileURLToPath(new URL("../../../", import.meta.url));

/** The protocol of the committed tables (sized so the whole sweep takes a few minutes on 2 cores). */
export const BUNDLED_PROTOCOL = {
  calibration: { nsamples: 16, seqlen: 256, seed: 0 },
  evaluation: { seqlen: 256, maxWindows: 16 },
  levels: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, { n: 2, m: 4 }],
} as const;

export async function runBundled(log: (l: string) => void, backend?: ComputeBackend): Promise<TablesResult> {
  const bytes = async (p: string): Promise<Uint8Array> => new Uint8Array(await readFile(`${root}${p}`));
  const modelBytes = await bytes("data/stories260K/stories260K.bin");
  const modelChecksum = await sha256Hex(modelBytes);
  const checkpoint = await readLlama2c(modelBytes, "stories260K.bin");
  const tokenizer = createLlama2cTokenizer(
    readLlama2cTokenizer(await bytes("data/stories260K/tok512.bin"), 512),
  );
  const text = await readFile(`${root}data/tinystories/tinystories_val.txt`, "utf8");
  return reproduceTables({
    checkpoint,
    tokenizer,
    text,
    datasetName: "tinystories_val.txt",
    calibration: BUNDLED_PROTOCOL.calibration,
    evaluation: BUNDLED_PROTOCOL.evaluation,
    levels: BUNDLED_PROTOCOL.levels,
    modelChecksum,
    ...(backend !== undefined ? { backend } : {}),
    log,
  });
}

/** Table 3: prune the fine-tuned variant, W⁰ = the dequantized base (see data/stories260K-finetune/PROVENANCE.md). */
export async function runMovementTable(
  log: (l: string) => void,
  backend?: ComputeBackend,
): Promise<TableData & { dense: number }> {
  const bytes = async (p: string): Promise<Uint8Array> => new Uint8Array(await readFile(`${root}${p}`));
  const dir = "data/stories260K-finetune/";
  const postBytes = await bytes(`${dir}stories260K_qat_finalpolishstrong_seq256_dequant_f32.bin`);
  const modelChecksum = await sha256Hex(postBytes);
  const checkpoint = await readLlama2c(postBytes, "stories260K_qat_finalpolishstrong_seq256_dequant_f32.bin");
  const preCheckpoint = await readLlama2c(
    await bytes(`${dir}stories260K_base_dequant_f32.bin`),
    "stories260K_base_dequant_f32.bin",
  );
  const tokenizer = createLlama2cTokenizer(
    readLlama2cTokenizer(await bytes("data/stories260K/tok512.bin"), 512),
  );
  const text = await readFile(`${root}data/tinystories/tinystories_val.txt`, "utf8");
  return reproduceMovementTable({
    checkpoint,
    preCheckpoint,
    tokenizer,
    text,
    datasetName: "tinystories_val.txt",
    calibration: BUNDLED_PROTOCOL.calibration,
    evaluation: BUNDLED_PROTOCOL.evaluation,
    levels: [0.5, 0.6, 0.7, 0.8, { n: 2, m: 4 }],
    modelChecksum,
    ...(backend !== undefined ? { backend } : {}),
    log,
  });
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  // WebAssembly SIMD on all cores when available, else the plain JS reference (--backend js forces it).
  const i = process.argv.indexOf("--backend");
  const prefer = i >= 0 ? process.argv[i + 1] : "auto";
  if (prefer !== "auto" && prefer !== "wasm" && prefer !== "js") {
    throw new RangeError(
      `reproduce-tables --backend: expected auto, wasm or js, got ${JSON.stringify(prefer)}`,
    );
  }
  const backend = await createDefaultCpuBackend({ fallback: createCpuBackend, prefer });
  try {
    console.log(`compute backend: ${backend.name}`);
    const r = await runBundled((l) => console.log(l), backend);
    const files = await writeTables(`${root}results`, r);
    console.log(r.protocol);
    console.log(r.checks);
    const t3 = await runMovementTable((l) => console.log(l), backend);
    await writeFile(`${root}results/table3-movement.md`, tableMarkdown(t3));
    await writeFile(`${root}results/table3-movement.json`, `${JSON.stringify(t3, null, 2)}\n`);
    console.log(`wrote ${files.join(", ")}, results/table3-movement.{md,json}`);
  } finally {
    await backend.dispose();
  }
}
