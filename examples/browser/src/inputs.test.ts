import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { isPruneError } from "@mama-prune/core";
import { createLlama2cTokenizer } from "@mama-prune/model";
import {
  checkpointEntries,
  memoryCheckpointDir,
  readLlama2c,
  readLlama2cTokenizer,
  writeHfCheckpoint,
} from "@mama-prune/tensor-io";
import { beforeAll, describe, expect, it } from "vitest";
import { llama2cModel, type PickedFile, pickedModel } from "./inputs.ts";

const data = fileURLToPath(new URL("../../../data/stories260K/", import.meta.url));
let modelBytes: Uint8Array;
let tokBytes: Uint8Array;
let hf: Map<string, Uint8Array>; // stories260K as a Hugging Face folder (model.safetensors + config.json)

// A minimal byte-level BPE tokenizer.json (same shape as model's hf-tokenizer test).
const vocab: Record<string, number> = { "<s>": 0, "</s>": 1, "<unk>": 2, H: 3, i: 4, Hi: 5 };
const TOKENIZER_JSON = {
  version: "1.0",
  added_tokens: [
    {
      id: 0,
      content: "<s>",
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    },
  ],
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
    merges: ["H i"],
  },
};

const blob = (b: Uint8Array | string): Blob => new Blob([b as Uint8Array<ArrayBuffer>]);
const picks = (entries: [string, Uint8Array | string][]): PickedFile[] =>
  entries.map(([path, b]) => ({ path, file: blob(b) }));

async function expectError(p: Promise<unknown>, code: string, text: string): Promise<void> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(isPruneError(e) ? e.code : e).toBe(code);
  expect((e as Error).message).toContain(text);
}

beforeAll(async () => {
  modelBytes = new Uint8Array(await readFile(`${data}stories260K.bin`));
  tokBytes = new Uint8Array(await readFile(`${data}tok512.bin`));
  const src = await readLlama2c(modelBytes, "stories260K.bin");
  const dir = memoryCheckpointDir("hf");
  await writeHfCheckpoint(dir, { config: src.config, tensors: checkpointEntries(src) });
  hf = dir.files;
});

describe("picked model files", () => {
  it("opens a picked Hugging Face folder (top level only) with the same tensors as the llama2.c source", async () => {
    const m = await pickedModel("my-model", [
      ...picks([...hf].map(([f, b]) => [`my-model/${f}`, b])),
      ...picks([
        ["my-model/tokenizer.bin", tokBytes],
        ["my-model/nested/stories260K.bin", modelBytes], // deeper files are ignored
      ]),
    ]);
    expect(m.checkpoint.format).toBe("hf-folder");
    expect(m.checksum).toBeUndefined(); // a folder has no single-file checksum (as in the CLI)
    const ref = await readLlama2c(modelBytes);
    for (const t of ref.list()) {
      expect(await m.checkpoint.readF32(t.name), t.name).toEqual(await ref.readF32(t.name));
    }
    const want = createLlama2cTokenizer(readLlama2cTokenizer(tokBytes, 512));
    const text = "Once upon a time, there was a little girl.";
    expect(Array.from(m.tokenizer.encode(text))).toEqual(Array.from(want.encode(text)));
    expect(m.sideFiles.map((f) => f.file)).toEqual(["tokenizer.bin"]);
  });

  it("opens one .safetensors with config.json and a tokenizer.json, carrying the tokenizer files over", async () => {
    const m = await pickedModel(
      "weights.safetensors + config.json + tokenizer.json",
      picks([
        ["weights.safetensors", hf.get("model.safetensors")!],
        ["config.json", hf.get("config.json")!],
        ["tokenizer.json", JSON.stringify(TOKENIZER_JSON)],
        ["tokenizer_config.json", JSON.stringify({ bos_token: "<s>" })],
      ]),
    );
    expect([m.name, m.checkpoint.format]).toEqual(["weights.safetensors", "safetensors"]);
    expect(Array.from(m.tokenizer.encode("Hi", { bos: true }))).toEqual([0, 5]);
    expect(m.sideFiles.map((f) => f.file).sort()).toEqual(["tokenizer.json", "tokenizer_config.json"]);
    const sha = createHash("sha256").update(hf.get("model.safetensors")!).digest("hex");
    expect(m.checksum).toBe(sha);
  });

  it("opens a llama2.c .bin with its tok*.bin, with the file's sha256 like the bundled model", async () => {
    const m = await pickedModel(
      "picked",
      picks([
        ["stories260K.bin", modelBytes],
        ["tok512.bin", tokBytes],
      ]),
    );
    const bundled = await llama2cModel(modelBytes, tokBytes, {
      model: "stories260K.bin",
      tokenizer: "tok512.bin",
    });
    expect(m.checksum).toBe(createHash("sha256").update(modelBytes).digest("hex"));
    expect(bundled.checksum).toBe(m.checksum);
    expect([m.name, m.checkpoint.format]).toEqual(["stories260K.bin", "llama2c"]);
  });

  it("names what is missing", async () => {
    await expectError(
      pickedModel("x", picks([["w.safetensors", hf.get("model.safetensors")!]])),
      "TENSOR_IO_NOT_FOUND",
      "Expected config.json among the picked files, got w.safetensors",
    );
    await expectError(
      pickedModel("x", picks([["stories260K.bin", modelBytes]])),
      "TOKENIZER_INVALID",
      "no tokenizer found",
    );
    await expectError(
      pickedModel("x", picks([["notes.txt", "hi"]])),
      "TENSOR_IO_NOT_FOUND",
      "no model found",
    );
    const big = {
      ...TOKENIZER_JSON,
      model: {
        ...TOKENIZER_JSON.model,
        vocab: Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`t${i}`, i])),
        merges: [],
      },
    };
    await expectError(
      pickedModel(
        "x",
        picks([
          ...[...hf].map(([f, b]) => [f, b] as [string, Uint8Array]),
          ["tokenizer.json", JSON.stringify(big)],
        ]),
      ),
      "TOKENIZER_MISMATCH",
      "Expected at most 512 tokens",
    );
  });
});
