import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createRng, isPruneError } from "@mama-prune/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  LLAMA2C_HEADER_BYTES,
  llama2cExpectedBytes,
  llama2cHeader,
  llama2cHeaderFromConfig,
  permuteRopeRows,
  readLlama2c,
  writeLlama2c,
  writeLlama2cToSink,
} from "./llama2c.ts";
import { collectSink } from "./sink.ts";

const BIN = fileURLToPath(new URL("../../../data/stories260K/stories260K.bin", import.meta.url));
const bin = new Uint8Array(readFileSync(BIN));

function header(vals: number[]): Uint8Array {
  const b = new Uint8Array(LLAMA2C_HEADER_BYTES);
  const dv = new DataView(b.buffer);
  for (const [i, v] of vals.entries()) dv.setInt32(4 * i, v, true);
  return b;
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: string): Promise<string> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    expect(isPruneError(e), String(e)).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    return (e as Error).message;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

// ---- RoPE references (independent of the permutation code) ----

/** run.c: rotate pairs (x[2i], x[2i+1]) of each head by pos · theta^(-2i/hs). */
function ropeInterleaved(x: Float64Array, headSize: number, pos: number): Float64Array {
  const y = Float64Array.from(x);
  for (let j = 0; j < x.length; j += 2) {
    const hd = j % headSize;
    const a = pos * 10000 ** (-hd / headSize);
    const [c, s] = [Math.cos(a), Math.sin(a)];
    y[j] = x[j]! * c - x[j + 1]! * s;
    y[j + 1] = x[j]! * s + x[j + 1]! * c;
  }
  return y;
}

/** HF Llama: rotate (x[i], x[i+hs/2]) of each head by pos · theta^(-2i/hs). */
function ropeHalves(x: Float64Array, headSize: number, pos: number): Float64Array {
  const y = Float64Array.from(x);
  const half = headSize / 2;
  for (let h = 0; h < x.length / headSize; h++) {
    for (let i = 0; i < half; i++) {
      const a = pos * 10000 ** (-(2 * i) / headSize);
      const [c, s] = [Math.cos(a), Math.sin(a)];
      const p = h * headSize + i;
      const q = p + half;
      y[p] = x[p]! * c - x[q]! * s;
      y[q] = x[q]! * c + x[p]! * s;
    }
  }
  return y;
}

function matvec(w: Float32Array, rows: number, cols: number, x: Float64Array): Float64Array {
  const y = new Float64Array(rows); // (rows,)
  for (let r = 0; r < rows; r++) {
    let acc = 0;
    for (let c = 0; c < cols; c++) acc += w[r * cols + c]! * x[c]!;
    y[r] = acc;
  }
  return y;
}

describe("permuteRopeRows", () => {
  it("maps HF row (h, half, i) to llama2.c row (h, 2i + half) on hand-written cases", () => {
    expect([...permuteRopeRows(new Uint8Array([0, 1, 2, 3]), 1, 1)]).toEqual([0, 2, 1, 3]);
    expect([...permuteRopeRows(new Uint8Array([0, 1, 2, 3, 4, 5]), 1, 1)]).toEqual([0, 2, 4, 1, 3, 5]);
    // two heads of size 4, rows two bytes wide
    const rows = new Uint8Array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]);
    expect([...permuteRopeRows(rows, 2, 2)]).toEqual([0, 0, 2, 2, 1, 1, 3, 3, 4, 4, 6, 6, 5, 5, 7, 7]);
  });

  it("is undone by the inverse permutation", () => {
    const rows = Uint8Array.from({ length: 3 * 8 * 5 }, (_, i) => i % 251);
    expect(permuteRopeRows(permuteRopeRows(rows, 3, 5), 3, 5, true)).toEqual(rows);
  });

  it("throws RangeError for an odd head size", () => {
    expect(() => permuteRopeRows(new Uint8Array(6), 2, 1)).toThrow(RangeError);
  });

  it("makes rotate-half RoPE on permuted q/k give the same q·k as interleaved RoPE on the original rows", () => {
    const rng = createRng(7);
    const [nHeads, nKv, hs, dim] = [4, 2, 6, 24];
    const wq = Float32Array.from({ length: nHeads * hs * dim }, () => rng.next() * 2 - 1); // (nHeads*hs, dim)
    const wk = Float32Array.from({ length: nKv * hs * dim }, () => rng.next() * 2 - 1); // (nKv*hs, dim)
    const wqHf = new Float32Array(
      permuteRopeRows(new Uint8Array(wq.buffer.slice(0)), nHeads, dim * 4).buffer,
    );
    const wkHf = new Float32Array(permuteRopeRows(new Uint8Array(wk.buffer.slice(0)), nKv, dim * 4).buffer);
    const x1 = Float64Array.from({ length: dim }, () => rng.next() - 0.5); // (dim,)
    const x2 = Float64Array.from({ length: dim }, () => rng.next() - 0.5); // (dim,)
    const [p1, p2] = [5, 3];
    const q = ropeInterleaved(matvec(wq, nHeads * hs, dim, x1), hs, p1);
    const k = ropeInterleaved(matvec(wk, nKv * hs, dim, x2), hs, p2);
    const qHf = ropeHalves(matvec(wqHf, nHeads * hs, dim, x1), hs, p1);
    const kHf = ropeHalves(matvec(wkHf, nKv * hs, dim, x2), hs, p2);
    let checked = 0;
    for (let h = 0; h < nHeads; h++) {
      const kvh = Math.floor(h / (nHeads / nKv));
      let a = 0;
      let b = 0;
      for (let d = 0; d < hs; d++) {
        a += q[h * hs + d]! * k[kvh * hs + d]!;
        b += qHf[h * hs + d]! * kHf[kvh * hs + d]!;
      }
      expect(Math.abs(a)).toBeGreaterThan(1e-3);
      expect(b).toBeCloseTo(a, 12);
      checked++;
    }
    expect(checked).toBe(nHeads);
    // Without the permutation the conventions disagree (the test could fail).
    const qWrong = ropeHalves(matvec(wq, nHeads * hs, dim, x1), hs, p1);
    const kWrong = ropeHalves(matvec(wk, nKv * hs, dim, x2), hs, p2);
    let a = 0;
    let w = 0;
    for (let d = 0; d < hs; d++) {
      a += q[d]! * k[d]!;
      w += qWrong[d]! * kWrong[d]!;
    }
    expect(Math.abs(a - w)).toBeGreaterThan(1e-6);
  });
});

describe("llama2cHeader", () => {
  it("parses the bundled stories260K header", () => {
    expect(llama2cHeader(bin.subarray(0, 28))).toEqual({
      dim: 64,
      hiddenDim: 172,
      nLayers: 5,
      nHeads: 8,
      nKvHeads: 4,
      vocabSize: 512,
      seqLen: 512,
      sharedClassifier: true,
    });
    expect(llama2cExpectedBytes(llama2cHeader(bin))).toBe(bin.byteLength);
  });

  it("rejects bad headers with TENSOR_IO_MALFORMED naming the file and field", async () => {
    const m1 = await expectCode(() => llama2cHeader(new Uint8Array(10), "x.bin"), "TENSOR_IO_MALFORMED");
    expect(m1).toContain("x.bin");
    const m2 = await expectCode(
      () => llama2cHeader(header([0, 8, 1, 1, 1, 4, 4]), "x.bin"),
      "TENSOR_IO_MALFORMED",
    );
    expect(m2).toContain("dim");
    const m3 = await expectCode(() => llama2cHeader(header([10, 8, 1, 3, 1, 4, 4])), "TENSOR_IO_MALFORMED");
    expect(m3).toContain("n_heads");
    const m4 = await expectCode(() => llama2cHeader(header([12, 8, 1, 3, 2, 4, 4])), "TENSOR_IO_MALFORMED");
    expect(m4).toContain("n_kv_heads");
    await expectCode(() => llama2cHeader(header([8, 8, 1, 2, 4, 4, 4])), "TENSOR_IO_MALFORMED");
    await expectCode(() => llama2cHeader(header([6, 8, 1, 2, 1, 4, 4])), "TENSOR_IO_MALFORMED"); // head 3
    await expectCode(() => llama2cHeader(header([8, 8, 1, 2, 1, 4, -4])), "TENSOR_IO_MALFORMED");
    await expectCode(() => llama2cHeader(header([2 ** 30, 8, 1, 2, 1, 4, 4])), "TENSOR_IO_MALFORMED");
    await expectCode(() => llama2cHeader(header([0x616b3432, 1, 0, 0, 0, 0, 0])), "TENSOR_IO_UNSUPPORTED");
  });
});

describe("readLlama2c", () => {
  it("exposes the bundled model under HF Llama names with a LlamaConfig", async () => {
    const ckpt = await readLlama2c(bin, "stories260K.bin");
    expect(ckpt.format).toBe("llama2c");
    expect(ckpt.config).toEqual({
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      hidden_size: 64,
      intermediate_size: 172,
      num_hidden_layers: 5,
      num_attention_heads: 8,
      num_key_value_heads: 4,
      vocab_size: 512,
      max_position_embeddings: 512,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      tie_word_embeddings: true,
      hidden_act: "silu",
      torch_dtype: "float32",
    });
    const list = ckpt.list();
    expect(list.length).toBe(1 + 5 * 9 + 1);
    expect(ckpt.has("lm_head.weight")).toBe(false);
    expect(list.reduce((a, t) => a + t.byteLength / 4, 0)).toBe(260_032);
    const linears = list.filter((t) => /_proj\.weight$/.test(t.name));
    expect(linears.length).toBe(35);
    expect(linears.reduce((a, t) => a + t.byteLength / 4, 0)).toBe(226_560);
    expect(ckpt.info("model.layers.4.self_attn.k_proj.weight").shape).toEqual([32, 64]);
    expect(ckpt.info("model.layers.0.mlp.down_proj.weight").shape).toEqual([64, 172]);
    expect(ckpt.info("model.layers.0.mlp.gate_proj.weight").shape).toEqual([172, 64]);
    expect(list.every((t) => t.dtype === "F32")).toBe(true);
    await expectCode(ckpt.readF32("lm_head.weight"), "TENSOR_IO_NOT_FOUND");
    await expectCode(() => ckpt.info("nope"), "TENSOR_IO_NOT_FOUND");
    await ckpt.close();
    await ckpt.close();
  });

  it("reads tensors at their llama2.c offsets, permuting only q/k rows", async () => {
    const ckpt = await readLlama2c(new Blob([bin]), "stories260K.bin");
    const f = new Float32Array(bin.buffer.slice(28)); // whole file after the header
    const dim = 64;
    const emb = await ckpt.readF32("model.embed_tokens.weight");
    expect(emb).toEqual(f.subarray(0, 512 * dim));
    // layer 1 of wq starts after emb, rms_att (5×64), layer 0 of wq
    const wqOff = 512 * dim + 5 * dim + dim * dim;
    const q1 = await ckpt.readF32("model.layers.1.self_attn.q_proj.weight");
    // HF row (head 2, half 1, i 3) = llama2.c row (head 2, 2·3 + 1) with head size 8
    expect(q1.subarray((2 * 8 + 4 + 3) * dim, (2 * 8 + 4 + 4) * dim)).toEqual(
      f.subarray(wqOff + (2 * 8 + 7) * dim, wqOff + (2 * 8 + 8) * dim),
    );
    expect(q1).not.toEqual(f.subarray(wqOff, wqOff + dim * dim));
    // v is not permuted: layer 0 of wv after wq (5·64·64) and wk (5·32·64)
    const wvOff = 512 * dim + 5 * dim + 5 * dim * dim + 5 * 32 * dim;
    expect(await ckpt.readF32("model.layers.0.self_attn.v_proj.weight")).toEqual(
      f.subarray(wvOff, wvOff + 32 * dim),
    );
    const norm = await ckpt.readF32("model.norm.weight");
    const normOff = 512 * dim + 5 * dim * 2 + 5 * dim * dim * 2 + 5 * 32 * dim * 2 + 5 * 172 * dim * 3;
    expect(norm).toEqual(f.subarray(normOff, normOff + dim));
    expect(new Uint8Array((await ckpt.readF32("model.norm.weight")).buffer)).toEqual(
      await ckpt.readRaw("model.norm.weight"),
    );
  });

  it("reads an unshared classifier as lm_head.weight", async () => {
    const h = [8, 4, 1, 2, 1, -3, 2];
    // emb 3×8, rms 8, wq 8×8, wk/wv 4×8, wo 8×8, rms 8, w1/w2/w3 4×8, norm 8, freq 2×4, wcls 3×8
    const floats = 24 + 8 + 64 + 32 + 32 + 64 + 8 + 96 + 8 + 8 + 24;
    const b = new Uint8Array(28 + 4 * floats);
    b.set(header(h));
    const f = new Float32Array(b.buffer, 28);
    for (let i = 0; i < floats; i++) f[i] = i;
    const ckpt = await readLlama2c(b, "tiny.bin");
    expect(ckpt.config["tie_word_embeddings"]).toBe(false);
    expect([...(await ckpt.readF32("lm_head.weight"))]).toEqual(
      Array.from({ length: 24 }, (_, i) => floats - 24 + i),
    );
  });

  it("rejects truncated, padded and mis-signed files with TENSOR_IO_MALFORMED", async () => {
    const m1 = await expectCode(readLlama2c(bin.subarray(0, bin.length - 4), "s.bin"), "TENSOR_IO_MALFORMED");
    expect(m1).toContain("s.bin");
    expect(m1).toContain("Expected 1056540 bytes, got 1056536");
    const padded = new Uint8Array(bin.length + 1);
    padded.set(bin);
    await expectCode(readLlama2c(padded), "TENSOR_IO_MALFORMED");
    const unsharedSize = new Uint8Array(bin.length + 512 * 64 * 4);
    unsharedSize.set(bin);
    const m3 = await expectCode(readLlama2c(unsharedSize, "u.bin"), "TENSOR_IO_MALFORMED");
    expect(m3).toContain("unshared classifier");
    await expectCode(readLlama2c(new Uint8Array(3)), "TENSOR_IO_MALFORMED");
    const badHeader = bin.slice();
    new DataView(badHeader.buffer).setInt32(12, 7, true); // n_heads = 7
    await expectCode(readLlama2c(badHeader), "TENSOR_IO_MALFORMED");
  });
});

describe("readLlama2c on the fine-tune pair", () => {
  const dir = "../../../data/stories260K-finetune/";
  const load = (f: string): Uint8Array =>
    new Uint8Array(readFileSync(fileURLToPath(new URL(dir + f, import.meta.url))));

  it("reads the base and fine-tuned files with the same inventory, the base within Q8_0 error of stories260K", async () => {
    const orig = await readLlama2c(bin);
    const base = await readLlama2c(load("stories260K_base_dequant_f32.bin"));
    const tuned = await readLlama2c(load("stories260K_qat_finalpolishstrong_seq256_dequant_f32.bin"));
    expect(base.config).toEqual(orig.config);
    expect(tuned.list()).toEqual(base.list());
    // export.py version 2: per group of 32 (row-major, original llama2.c order), scale = max|w| / 127.
    // The q/k permutation moves whole rows of 64 = 2 groups, so group bounds are unchanged.
    for (const name of [
      "model.embed_tokens.weight",
      "model.layers.3.self_attn.q_proj.weight",
      "model.layers.1.mlp.down_proj.weight",
    ]) {
      const [a, b] = [await orig.readF32(name), await base.readF32(name)];
      let worst = 0;
      for (let g = 0; g < a.length; g += 32) {
        let maxAbs = 0;
        for (let i = g; i < g + 32; i++) maxAbs = Math.max(maxAbs, Math.abs(a[i]!));
        for (let i = g; i < g + 32; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (maxAbs / 127));
      }
      expect(worst, name).toBeLessThanOrEqual(0.5 + 1e-3);
      expect(worst, name).toBeGreaterThan(0.1); // it really is quantized, not a copy
    }
    const moved = await tuned.readF32("model.layers.0.mlp.up_proj.weight");
    const start = await base.readF32("model.layers.0.mlp.up_proj.weight");
    expect(moved.some((x, i) => x !== start[i])).toBe(true);
  });
});

describe("writeLlama2c", () => {
  it("round-trips the bundled model: weights byte-identical, freq_cis within float32 rounding", async () => {
    const ckpt = await readLlama2c(bin);
    const out = await writeLlama2c(ckpt);
    expect(out.byteLength).toBe(bin.byteLength);
    const freqStart = bin.length - 4 * 512 * 8; // seq_len × head_size floats of freq_cis at the end
    let diff = 0;
    for (let i = 0; i < freqStart; i++) if (out[i] !== bin[i]) diff++;
    expect(diff).toBe(0);
    const a = new Float32Array(bin.buffer.slice(freqStart));
    const b = new Float32Array(out.buffer.slice(freqStart));
    let maxErr = 0;
    for (let i = 0; i < a.length; i++) maxErr = Math.max(maxErr, Math.abs(a[i]! - b[i]!));
    expect(maxErr).toBeLessThan(2e-7); // measured: 6e-8 (1 ulp) on 199 of 4096 values
  });

  it("aborts the sink when a tensor is missing", async () => {
    const sink = collectSink();
    const input = {
      config: (await readLlama2c(bin)).config,
      has: () => false,
      readF32: async () => new Float32Array(),
    };
    await expectCode(writeLlama2cToSink(sink, input), "TENSOR_IO_NOT_FOUND");
    await expectCode(() => sink.bytes(), "TENSOR_IO_WRITE_FAILED"); // aborted, nothing committed
  });

  it("refuses configs llama2.c cannot represent", async () => {
    const ckpt = await readLlama2c(bin);
    const base = ckpt.config;
    await expectCode(() => llama2cHeaderFromConfig({ ...base, rope_theta: 500000 }), "TENSOR_IO_UNSUPPORTED");
    await expectCode(() => llama2cHeaderFromConfig({ ...base, rms_norm_eps: 1e-6 }), "TENSOR_IO_UNSUPPORTED");
    await expectCode(
      () => llama2cHeaderFromConfig({ ...base, attention_bias: true }),
      "TENSOR_IO_UNSUPPORTED",
    );
    await expectCode(() => llama2cHeaderFromConfig({ ...base, hidden_size: "64" }), "CONFIG_INVALID");
    await expectCode(() => llama2cHeaderFromConfig({ ...base, num_attention_heads: 7 }), "CONFIG_INVALID");
    const input = { config: base, has: () => true, readF32: async () => new Float32Array(3) };
    await expectCode(writeLlama2c(input), "SHAPE_MISMATCH");
    await expectCode(writeLlama2c({ ...input, has: () => false }), "TENSOR_IO_NOT_FOUND");
  });
});

describe("readLlama2c (fuzz)", () => {
  it("opens or throws a PruneError for random headers and sizes, never anything else", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.integer({ min: -3, max: 70 }), fc.integer()), { minLength: 7, maxLength: 7 }),
        fc.integer({ min: 0, max: 4096 }),
        async (vals, extra) => {
          const b = new Uint8Array(28 + extra);
          b.set(header(vals));
          try {
            const ckpt = await readLlama2c(b);
            expect(llama2cExpectedBytes(llama2cHeader(b))).toBe(b.length);
            for (const t of ckpt.list()) expect((await ckpt.readF32(t.name)).length * 4).toBe(t.byteLength);
          } catch (e) {
            expect(isPruneError(e), String(e)).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
