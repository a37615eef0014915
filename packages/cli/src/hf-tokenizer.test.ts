// Hugging Face folders with tokenizer.json (+ tokenizer_config.json) beside the weights.
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorkspace, runCli, type Workspace, writeTinyModel } from "../test/fixtures/workspace.ts";

// A hand-written byte-level BPE tokenizer.json (GPT-2 style, 18 tokens).
const PIECES = ["H", "e", "l", "o", "Ġ", "w", "r", "d", "!", "He", "ll", "llo", "Ġw", "Ġwor", "or"];
const vocab: Record<string, number> = { "<s>": 0, "</s>": 1, "<unk>": 2 };
for (const p of PIECES) vocab[p] = Object.keys(vocab).length;
const special = (id: number, content: string) => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
});
const TOKENIZER_JSON = {
  version: "1.0",
  added_tokens: [special(0, "<s>"), special(1, "</s>")],
  normalizer: null,
  pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: null,
  decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
  model: {
    type: "BPE",
    dropout: null,
    unk_token: "<unk>",
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: false,
    byte_fallback: false,
    vocab,
    merges: ["l l", "ll o", "Ġ w", "o r", "Ġw or", "H e"],
  },
};
const enc = new TextEncoder();
const files = [
  { file: "tokenizer.json", data: enc.encode(JSON.stringify(TOKENIZER_JSON)) },
  {
    file: "tokenizer_config.json",
    data: enc.encode(JSON.stringify({ bos_token: "<s>", eos_token: "</s>" })),
  },
];

let ws: Workspace;
beforeAll(async () => {
  ws = await createWorkspace();
  await writeTinyModel(join(ws.dir, "hf18"), { vocab: 18, extraFiles: files });
  await writeTinyModel(join(ws.dir, "hf16"), { vocab: 16, extraFiles: files });
  await writeFile(join(ws.dir, "hello.txt"), Array.from({ length: 30 }, () => "Hello world!").join("\n\n"));
});
afterAll(async () => {
  await ws.cleanup();
});

describe("HF tokenizer.json", () => {
  it("is found in the folder, used for eval and calibration, and carried into the pruned folder", async () => {
    const e = await runCli(
      ["eval", "hf18", "--text", "hello.txt", "--seqlen", "8", "--json", "--quiet"],
      ws.dir,
    );
    expect(e.code).toBe(0);
    const r = JSON.parse(e.stdout);
    // "Hello world!" is 6 tokens, so 30 copies (plus separators and the BOS) are more than 180.
    expect(r.dataset.tokens).toBeGreaterThan(6 * 30);
    expect(r.protocol).toContain("BOS=0 once at the stream start");
    const p = await runCli(
      [
        "prune",
        "hf18",
        "--method",
        "wanda",
        "--sparsity",
        "0.5",
        "--calibration",
        "hello.txt",
        "--nsamples",
        "2",
        "--seqlen",
        "8",
        "--out",
        "hf18-w",
        "--quiet",
      ],
      ws.dir,
    );
    expect(p.code).toBe(0);
    expect((await readdir(join(ws.dir, "hf18-w"))).sort()).toEqual([
      "config.json",
      "model.safetensors",
      "pruning.json",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
  });

  it("refuses a tokenizer with more tokens than the model's vocabulary", async () => {
    const e = await runCli(["eval", "hf16", "--text", "hello.txt", "--seqlen", "8"], ws.dir);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(
      /^mama-prune: TOKENIZER_MISMATCH: .*tokenizer\.json: tokenizer does not match model hf16\. Expected at most 16 tokens .*got 18\.\n$/,
    );
  });
});
