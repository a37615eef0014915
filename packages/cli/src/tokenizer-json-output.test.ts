// A folder written from a llama2.c model carries tokenizer.json + tokenizer_config.json beside
// tokenizer.bin: Hugging Face tokenizers loads it and gives the llama2.c tokenizer's ids, and `eval`
// of the folder (which now picks tokenizer.json) gives the same perplexity as with tokenizer.bin.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { createLlama2cTokenizer } from "@mama-prune/model";
import { readLlama2cTokenizer } from "@mama-prune/tensor-io";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BUNDLED_MODEL,
  BUNDLED_TEXT,
  BUNDLED_TOKENIZER,
  createWorkspace,
  runCli,
  type Workspace,
} from "../test/fixtures/workspace.ts";
import { outputSideFiles } from "./side-files.ts";

let ws: Workspace;
beforeAll(async () => {
  ws = await createWorkspace();
});
afterAll(async () => {
  await ws.cleanup();
});

describe("tokenizer.json for llama2.c outputs", () => {
  it("prune of stories260K.bin writes a tokenizer.json that encodes like tok512.bin", async () => {
    const r = await runCli(
      ["prune", BUNDLED_MODEL, "--method", "magnitude", "--sparsity", "0.5", "--out", "mag50", "--quiet"],
      ws.dir,
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = join(ws.dir, "mag50");
    const json = JSON.parse(await readFile(join(out, "tokenizer.json"), "utf8"));
    const cfg = JSON.parse(await readFile(join(out, "tokenizer_config.json"), "utf8"));
    expect(cfg.model_max_length).toBe(512); // stories260K's seq_len
    expect(cfg.add_bos_token).toBe(true);
    const hf = new HfTokenizer(json, cfg);
    const llama = createLlama2cTokenizer(
      readLlama2cTokenizer(new Uint8Array(await readFile(BUNDLED_TOKENIZER)), 512, "tok512.bin"),
    );
    const text = (await readFile(BUNDLED_TEXT, "utf8")).slice(0, 6000);
    let tokens = 0;
    for (const line of text.split("\n").filter((l) => l.trim() !== "")) {
      const want = Array.from(llama.encode(line, { bos: true }));
      expect(hf.encode(line).ids, line).toEqual(want); // the post-processor adds BOS, as run.c
      tokens += want.length;
    }
    expect(tokens).toBeGreaterThan(1000);
    // pruning.json lists both tokenizer files among its checksummed outputs.
    const pj = JSON.parse(await readFile(join(out, "pruning.json"), "utf8"));
    expect(Object.keys(pj.outputs)).toEqual(
      expect.arrayContaining(["tokenizer.json", "tokenizer_config.json"]),
    );

    // eval finds tokenizer.json in the folder; the perplexity is the tokenizer.bin one, bit for bit.
    const evalArgs = ["eval", "mag50", "--text", "text.txt", "--seqlen", "128", "--json"];
    const viaJson = await runCli([...evalArgs, "--quiet"], ws.dir);
    const viaBin = await runCli([...evalArgs, "--tokenizer", join(out, "tokenizer.bin"), "--quiet"], ws.dir);
    expect(viaJson.code).toBe(0);
    expect(viaBin.code).toBe(0);
    const a = JSON.parse(viaJson.stdout);
    const b = JSON.parse(viaBin.stdout);
    expect(a.ppl).toBe(b.ppl);
    expect([a.tokensScored, a.windowsAvailable]).toEqual([b.tokensScored, b.windowsAvailable]);
    expect(a.windows).toBeGreaterThanOrEqual(20); // 40 paragraphs: thousands of tokens
    expect(Number.isFinite(a.ppl) && a.ppl > 1).toBe(true);
  });

  it("keeps tokenizer.bin only, with a warning, when the vocabulary cannot be converted", async () => {
    const warnings: string[] = [];
    const files = await outputSideFiles(
      ws.model,
      [{ file: "tokenizer.bin", data: new Uint8Array([0, 0, 0, 0]) }],
      {
        modelConfig: {
          model_type: "llama",
          hidden_size: 16,
          num_hidden_layers: 1,
          num_attention_heads: 4,
          intermediate_size: 32,
          vocab_size: 512,
        },
        warn: (m) => warnings.push(m),
      },
    );
    expect(files.map((f) => f.file)).not.toContain("tokenizer.json");
    expect(files.map((f) => f.file)).toContain("tokenizer.bin");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^tokenizer\.bin: no tokenizer\.json written \(/);
  });
});
