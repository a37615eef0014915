// Sparse inference end to end: prune the bundled stories260K model by magnitude (50 % of every
// block linear), save it as a compressed-tensors sparse-bitmask checkpoint, load that checkpoint back,
// and run the model on the GPU twice — dense kernels on the decompressed (dense-zeros) weights, and
// sparse kernels straight on the stored .compressed/.bitmask/.row_offsets tensors — printing
// perplexity (equal) and tokens/s for both.
//
//   npm start                         # 4 windows of seqlen 128, 32 decode tokens
//   npm start -- --windows 20 --seqlen 256

import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { matrix, SILENT_LOGGER } from "@mama-prune/core";
import { perplexity } from "@mama-prune/eval";
import { createWebGpuBackend, type WebGpuBackend } from "@mama-prune/kernels-webgpu";
import { createNodeGpu } from "@mama-prune/kernels-webgpu/node";
import { createLlama2cTokenizer, LINEAR_NAMES, type LlamaModel, loadLlama } from "@mama-prune/model";
import { magnitude, selectMask } from "@mama-prune/scoring";
import { f32ToBytes, readLlama2cTokenizer, type SafetensorsEntry } from "@mama-prune/tensor-io";
import {
  readHfCheckpointFolder,
  readLlama2cFile,
  readSafetensorsFile,
  writeHfCheckpointFolder,
} from "@mama-prune/tensor-io/node";

const dataDir = fileURLToPath(new URL("../../../data/", import.meta.url));
const SWIFTSHADER = "/usr/lib/chromium/vk_swiftshader_icd.json";

/** Options of {@link runSparseInference}. */
export interface SparseInferenceOptions {
  readonly seqlen: number;
  readonly windows: number;
  /** Tokens generated one at a time (decode) for the tokens/s measurement. */
  readonly decodeTokens: number;
  /** Fraction of each block linear pruned by magnitude. */
  readonly sparsity: number;
  readonly log: (line: string) => void;
}

/** What the example measured. */
export interface SparseInferenceResult {
  readonly adapter: string;
  readonly pplDense: number;
  readonly pplSparse: number;
  readonly sparsity: number;
  readonly prefillTokensPerSecond: { readonly dense: number; readonly sparse: number };
  readonly decodeTokensPerSecond: { readonly dense: number; readonly sparse: number };
}

function readInts(bytes: Uint8Array): Float64Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(bytes.byteLength / 8); // (n,)
  for (let i = 0; i < out.length; i++) out[i] = Number(dv.getBigInt64(8 * i, true));
  return out;
}

async function tokensPerSecond(
  model: LlamaModel,
  prompt: Int32Array,
  decode: number,
): Promise<[number, number]> {
  const t0 = performance.now();
  await model.forward(prompt, 1, prompt.length);
  const prefill = prompt.length / ((performance.now() - t0) / 1000);
  const seq = model.createSequence();
  let logits = await seq.append(prompt.subarray(0, 1));
  const t1 = performance.now();
  for (let i = 0; i < decode; i++) {
    let best = 0;
    for (let j = 1; j < logits.length; j++) if (logits[j]! > logits[best]!) best = j;
    logits = await seq.append(Int32Array.of(best));
  }
  return [prefill, decode / ((performance.now() - t1) / 1000)];
}

/**
 * Run the example; returns the numbers it prints.
 *
 * @example
 * await runSparseInference({ seqlen: 64, windows: 1, decodeTokens: 8, sparsity: 0.5, log: console.log });
 */
export async function runSparseInference(options: SparseInferenceOptions): Promise<SparseInferenceResult> {
  const { log } = options;
  const dir = await mkdtemp(join(tmpdir(), "mama-prune-sparse-"));
  const gpu = await createNodeGpu(
    process.env["VK_ICD_FILENAMES"] === undefined ? { vkIcdFilenames: SWIFTSHADER } : {},
  );
  const backends: WebGpuBackend[] = [];
  try {
    const adapter = gpu.adapterInfo.description || gpu.adapterInfo.vendor || "unknown adapter";
    log(`adapter: ${adapter}${gpu.adapterInfo.isFallbackAdapter ? " (software)" : ""}`);

    // ---- 1. Prune by magnitude and save a sparse-bitmask checkpoint ----
    const src = await readLlama2cFile(join(dataDir, "stories260K/stories260K.bin"));
    const base = await loadLlama(src);
    const pruned = new Map<string, Float32Array>();
    let zeros = 0;
    let total = 0;
    for (let l = 0; l < base.config.numLayers; l++) {
      for (const name of LINEAR_NAMES) {
        const [rows, cols] = base.linearShape(l, name);
        const w = base.getLinearWeight(l, name).slice(); // (rows, cols)
        const pname = base.parameterName(l, name);
        const scores = await magnitude().score({
          name: pname,
          weight: matrix(rows, cols, w),
          log: SILENT_LOGGER,
        });
        const mask = selectMask(scores, rows, cols, {
          sparsity: options.sparsity,
          group: "matrix",
          name: pname,
        });
        for (let i = 0; i < w.length; i++) {
          if (mask[i] === 0) w[i] = 0;
          if (w[i] === 0) zeros++;
        }
        total += w.length;
        pruned.set(pname, w);
      }
    }
    const tensors: SafetensorsEntry[] = src.list().map((t) => {
      const w = pruned.get(t.name);
      return w === undefined
        ? { name: t.name, dtype: t.dtype, shape: t.shape, data: () => src.readRaw(t.name) }
        : { name: t.name, dtype: "F32", shape: t.shape, data: f32ToBytes(w, "F32") };
    });
    await writeHfCheckpointFolder(dir, { config: src.config, tensors, format: "sparse-bitmask" });
    await src.close();
    log(`wrote ${dir} (sparse-bitmask, ${((100 * zeros) / total).toFixed(1)} % zeros in the block linears)`);

    // ---- 2. Load it back: dense-zeros weights for the model, raw sparse tensors for the kernels ----
    const tokenizer = createLlama2cTokenizer(
      readLlama2cTokenizer(
        new Uint8Array(await readFile(join(dataDir, "stories260K/tok512.bin"))),
        512,
        "tok512.bin",
      ),
    );
    const dense = createWebGpuBackend(gpu.device, { name: `webgpu dense (${adapter})` });
    const sparse = createWebGpuBackend(gpu.device, { name: `webgpu sparse-bitmask (${adapter})` });
    backends.push(dense, sparse);
    const loadFrom = async (backend: WebGpuBackend): Promise<LlamaModel> => {
      const ckpt = await readHfCheckpointFolder(dir); // decompresses sparse-bitmask to dense zeros
      try {
        return await loadLlama(ckpt, { backend });
      } finally {
        await ckpt.close();
      }
    };
    const denseModel = await loadFrom(dense);
    const sparseModel = await loadFrom(sparse);
    const raw = await readSafetensorsFile(join(dir, "model.safetensors"));
    for (let l = 0; l < sparseModel.config.numLayers; l++) {
      for (const name of LINEAR_NAMES) {
        const prefix = sparseModel.parameterName(l, name).replace(/\.weight$/, "");
        const [rows, cols] = sparseModel.linearShape(l, name);
        sparse.registerSparseWeight(
          sparseModel.getLinearWeight(l, name),
          {
            format: "sparse-bitmask",
            shape: [rows, cols],
            compressed: await raw.readF32(`${prefix}.compressed`),
            bitmask: await raw.readRaw(`${prefix}.bitmask`),
            rowOffsets: readInts(await raw.readRaw(`${prefix}.row_offsets`)),
          },
          prefix,
        );
      }
    }
    await raw.close();

    // ---- 3. Perplexity and speed ----
    const text = await readFile(join(dataDir, "tinystories/tinystories_val.txt"), "utf8");
    const pplOptions = {
      seqlen: options.seqlen,
      maxWindows: options.windows,
      datasetName: "tinystories_val",
    };
    const pd = await perplexity(denseModel, tokenizer, text, { ...pplOptions, backendName: dense.name });
    const ps = await perplexity(sparseModel, tokenizer, text, { ...pplOptions, backendName: sparse.name });
    log(`dense kernels:  ${pd.protocol}`);
    log(`sparse kernels: ${ps.protocol}`);
    const prompt = tokenizer.encode(text.slice(0, 4000), { bos: true }).subarray(0, options.seqlen);
    // Warm up both (every kernel compiled, every weight on the GPU), then time them alternately,
    // twice, and keep each one's best: a change in machine load then hits both alike.
    await tokensPerSecond(denseModel, prompt.subarray(0, 8), 2);
    await tokensPerSecond(sparseModel, prompt.subarray(0, 8), 2);
    let [dPre, dDec, sPre, sDec] = [0, 0, 0, 0];
    for (let rep = 0; rep < 2; rep++) {
      const [a, b] = await tokensPerSecond(denseModel, prompt, options.decodeTokens);
      const [c, d] = await tokensPerSecond(sparseModel, prompt, options.decodeTokens);
      [dPre, dDec, sPre, sDec] = [Math.max(dPre, a), Math.max(dDec, b), Math.max(sPre, c), Math.max(sDec, d)];
    }
    log(
      `prefill (${prompt.length} tokens): dense ${dPre.toFixed(1)} tok/s, sparse ${sPre.toFixed(1)} tok/s (×${(sPre / dPre).toFixed(2)})`,
    );
    log(
      `decode (${options.decodeTokens} tokens): dense ${dDec.toFixed(1)} tok/s, sparse ${sDec.toFixed(1)} tok/s (×${(sDec / dDec).toFixed(2)})`,
    );
    return {
      adapter,
      pplDense: pd.ppl,
      pplSparse: ps.ppl,
      sparsity: zeros / total,
      prefillTokensPerSecond: { dense: dPre, sparse: sPre },
      decodeTokensPerSecond: { dense: dDec, sparse: sDec },
    };
  } finally {
    for (const b of backends) await b.dispose();
    await gpu.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (name: string, fallback: number): number => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : fallback;
  };
  await runSparseInference({
    seqlen: arg("seqlen", 128),
    windows: arg("windows", 4),
    decodeTokens: arg("decode", 32),
    sparsity: arg("sparsity", 0.5),
    log: (l) => console.log(l),
  });
}
