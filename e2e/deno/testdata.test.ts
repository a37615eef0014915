// Deno: @mama-prune/testdata loads its files through fetch of file: URLs (no node:fs), from TypeScript source.
import { readLlama2cTokenizer } from "@mama-prune/tensor-io";
import { STORIES260K, stories260K, TOK512_VOCAB_SIZE, tinyStoriesSample, tok512 } from "@mama-prune/testdata";

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

Deno.test("testdata loads the model, tokenizer and text under Deno", async () => {
  const model = await stories260K();
  assert(model.length === STORIES260K.bytes, `stories260K.bin: ${model.length} bytes`);
  const tok = readLlama2cTokenizer(await tok512(), TOK512_VOCAB_SIZE);
  assert(tok.pieces[259] === " t", `piece 259: ${tok.pieces[259]}`);
  const text = await tinyStoriesSample();
  assert(text.startsWith("Spot. Spot saw the shiny car"), "sample starts with the first story");
  assert(text.length === 99_665, `sample: ${text.length} characters`);
});
