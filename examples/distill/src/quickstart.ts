import { readFile } from "node:fs/promises";
import { masksFromZeros, paramsFromCheckpoint, sft, sparsityOf } from "@mama-prune/distill";
import { createLlama2cTokenizer } from "@mama-prune/model";
import { readLlama2cFile, readLlama2cTokenizerFile } from "@mama-prune/tensor-io/node";

// closeCheckpoint: the file is closed once every tensor is read (params hold them all).
const params = await paramsFromCheckpoint(await readLlama2cFile("data/stories260K/stories260K.bin"), {
  closeCheckpoint: true,
});
const tokenizer = createLlama2cTokenizer(await readLlama2cTokenizerFile("data/stories260K/tok512.bin", 512));
const text = (await readFile("data/tinystories/tinystories_val.txt", "utf8")).slice(-20000);
const w = params.tensors.get("model.layers.0.mlp.up_proj.weight")!;
for (let i = 0; i < w.length; i += 2) w[i] = 0; // "prune" half of one linear
const report = await sft(params, tokenizer.encode(text, { bos: true }), {
  steps: 20,
  lr: 5e-4,
  seqLen: 64,
  batch: 4,
});
console.log(
  report.losses[0]!.toFixed(3),
  report.losses.at(-1)!.toFixed(3),
  masksFromZeros(params).size,
  sparsityOf(params) === report.sparsityBefore,
);
