// prune and eval stream the checkpoint one block at a time: the output keeps the source's dtype and
// sharding (bf16 in → bf16 out), and eval prints the resident path's numbers and protocol line.
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isWasmSimdSupported } from "@mama-prune/compute-wasm";
import { loadLlama } from "@mama-prune/model";
import { isBlockLinear, type SafetensorsEntry, writeHfCheckpoint } from "@mama-prune/tensor-io";
import { createCheckpointDirWriter, openCheckpoint } from "@mama-prune/tensor-io/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUNDLED_MODEL, BUNDLED_TEXT, BUNDLED_TOKENIZER, runCli } from "../test/fixtures/workspace.ts";
import { type CommandContext, evaluateModel, withBackend } from "./commands/context.ts";
import { runEval } from "./commands/eval.ts";
import { readText, tokenizerFor } from "./inputs.ts";

let dir: string;
let src: string;
/** Source shard of each tensor: the embedding and blocks 0–2 in shard 0, the rest in shard 1. */
const shardOf = (name: string): number => (/^model\.(embed_tokens|layers\.[0-2]\.)/.test(name) ? 0 : 1);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mama-stream-"));
  src = join(dir, "bf16");
  // stories260K stored as a 2-shard bf16 HF folder with a tokenizer and a side file.
  const ck = await openCheckpoint(BUNDLED_MODEL);
  const entries: SafetensorsEntry[] = ck.list().map((t) => ({
    name: t.name,
    dtype: "BF16",
    shape: t.shape,
    data: () => ck.readF32(t.name),
  }));
  await writeHfCheckpoint(await createCheckpointDirWriter(src), {
    config: { ...ck.config, torch_dtype: "bfloat16" },
    tensors: entries,
    shardOf,
    extraFiles: [{ file: "generation_config.json", data: new TextEncoder().encode('{"do_sample":false}\n') }],
  });
  await ck.close();
  await copyFile(BUNDLED_TOKENIZER, join(src, "tokenizer.bin"));
  const paragraphs = (await readFile(BUNDLED_TEXT, "utf8")).split("\n\n").slice(0, 200);
  await writeFile(join(dir, "text.txt"), paragraphs.join("\n\n"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("prune of a bf16 sharded folder (streamed)", () => {
  it("writes bf16, sharded like the source, non-pruned tensors byte-identical, exact sparsity, and evaluates", async () => {
    const out = join(dir, "out");
    const r = await runCli(
      ["prune", "bf16", "--method", "magnitude", "--sparsity", "0.5", "--out", "out", "--json", "--quiet"],
      dir,
    );
    expect(r.code, r.stderr).toBe(0);
    const files = (await readdir(out)).sort();
    expect(files).toEqual(
      expect.arrayContaining([
        "config.json",
        "generation_config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "tokenizer.bin",
      ]),
    );
    const index = JSON.parse(await readFile(join(out, "model.safetensors.index.json"), "utf8"));
    const srcIndex = JSON.parse(await readFile(join(src, "model.safetensors.index.json"), "utf8"));
    expect(index.weight_map).toEqual(srcIndex.weight_map);
    expect(index.metadata.total_size).toBe(srcIndex.metadata.total_size);
    expect(await readFile(join(out, "generation_config.json"), "utf8")).toBe('{"do_sample":false}\n');

    const a = await openCheckpoint(src);
    const b = await openCheckpoint(out);
    let zeros = 0;
    let total = 0;
    for (const t of a.list()) {
      expect(b.info(t.name).dtype, t.name).toBe("BF16");
      const ra = await a.readRaw(t.name);
      const rb = await b.readRaw(t.name);
      if (!isBlockLinear(t.name, t.shape)) {
        expect(Buffer.from(rb).equals(Buffer.from(ra)), t.name).toBe(true);
        continue;
      }
      // Magnitude keeps weights unchanged: every element is the source's bf16 or an exact +0.
      const va = new Uint16Array(ra.buffer, ra.byteOffset, ra.byteLength / 2);
      const vb = new Uint16Array(rb.buffer, rb.byteOffset, rb.byteLength / 2);
      let z = 0;
      for (let i = 0; i < va.length; i++) {
        if (vb[i] === 0) z++;
        else expect(vb[i]).toBe(va[i]);
      }
      expect(z, t.name).toBe(va.length / 2);
      zeros += z;
      total += va.length;
    }
    expect(zeros / total).toBe(0.5);
    await a.close();
    await b.close();

    const ev = await runCli(
      ["eval", "out", "--text", "text.txt", "--seqlen", "64", "--windows", "4", "--json", "--quiet"],
      dir,
    );
    expect(ev.code, ev.stderr).toBe(0);
    const e = JSON.parse(ev.stdout);
    expect(e.windows).toBe(4);
    expect(Number.isFinite(e.ppl) && e.ppl > 1).toBe(true);
  });
});

describe("eval streams and prints the resident path's numbers", () => {
  const backends: ("js" | "wasm")[] = ["js", ...(isWasmSimdSupported() ? (["wasm"] as const) : [])];
  for (const backend of backends) {
    it(`stories260K, 12 × 256, --backend ${backend}: same ppl, mean NLL and protocol line`, async () => {
      const ctx: CommandContext = {
        io: { stdout: () => {}, stderr: () => {}, cwd: dir },
        quiet: true,
        backend,
      };
      const streamed = await runEval(
        { model: BUNDLED_MODEL, text: BUNDLED_TEXT, seqlen: 256, windows: 12 },
        ctx,
      );
      const ck = await openCheckpoint(BUNDLED_MODEL);
      const tok = await tokenizerFor(ck, BUNDLED_MODEL);
      const text = await readText(BUNDLED_TEXT, "evaluation", "EVAL_INVALID");
      const streamedChecksum = streamed.model.checksum ?? undefined;
      const resident = await withBackend(ctx, async (b) =>
        evaluateModel(ctx, await loadLlama(ck, { backend: b }), tok.tokenizer, text, {
          seqlen: 256,
          windows: 12,
          datasetName: "tinystories_val.txt",
          label: "resident",
          ...(streamedChecksum !== undefined ? { modelChecksum: streamedChecksum } : {}),
        }),
      );
      await ck.close();
      expect(streamed.ppl.toFixed(4)).toBe(resident.ppl.toFixed(4));
      expect(streamed.meanNll.toFixed(6)).toBe(resident.meanNll.toFixed(6));
      expect(Math.abs(streamed.ppl - resident.ppl) / resident.ppl).toBeLessThan(1e-6);
      const noTime = (p: string): string => p.replace(/; \d+ ms$/, "");
      expect(noTime(streamed.protocol)).toBe(noTime(resident.protocol));
      expect(streamed.protocol).toMatch(/sha256 [0-9a-f]{64}/);
      expect(streamed.model.checksum).toMatch(/^[0-9a-f]{64}$/);
    });
  }
});
