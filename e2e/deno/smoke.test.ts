// Deno smoke test: imports the packages from TypeScript source (no build) and uses them on the bundled model.
import { createRng, isPruneError, PruneError } from "@mama-prune/core";
import { perplexity } from "@mama-prune/eval";
import { createLlama2cTokenizer, generate, loadLlama } from "@mama-prune/model";
import { magnitude, runScorer, selectMask } from "@mama-prune/scoring";
import { scorerConformance } from "@mama-prune/scoring/conformance";
import { readLlama2c, readLlama2cTokenizer } from "@mama-prune/tensor-io";

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

const dataUrl = new URL("../../data/", import.meta.url);
const load = async () => {
  const checkpoint = await readLlama2c(await Deno.readFile(new URL("stories260K/stories260K.bin", dataUrl)));
  const tokenizer = createLlama2cTokenizer(
    readLlama2cTokenizer(await Deno.readFile(new URL("stories260K/tok512.bin", dataUrl)), 512),
  );
  return { checkpoint, tokenizer, model: await loadLlama(checkpoint) };
};

Deno.test("core works under Deno", () => {
  const x = createRng(1).next();
  assert(x >= 0 && x < 1, "rng in [0,1)");
  assert(isPruneError(new PruneError("SHAPE_MISMATCH", "x")), "isPruneError");
});

Deno.test("tensor-io + model tell the documented story on the bundled model", async () => {
  const { checkpoint, tokenizer, model } = await load();
  assert(checkpoint.list().length === 47, `47 tensors, got ${checkpoint.list().length}`);
  const { text } = await generate(model, tokenizer, "Once upon a time", { maxNewTokens: 12 });
  assert(text.startsWith("Once upon a time, there was a little girl named Lily"), `story: ${text}`);
});

Deno.test("eval measures the pinned perplexity and scoring prunes a real matrix", async () => {
  const { tokenizer, model } = await load();
  const text = await Deno.readTextFile(new URL("tinystories/tinystories_val.txt", dataUrl));
  const r = await perplexity(model, tokenizer, text, { seqlen: 256, maxWindows: 2 });
  assert(r.ppl > 2 && r.ppl < 8, `ppl ${r.ppl}`);

  const w = model.getLinearWeight(0, "q_proj");
  const [rows, cols] = model.linearShape(0, "q_proj");
  const scores = await runScorer(magnitude(), {
    name: model.parameterName(0, "q_proj"),
    weight: { rows, cols, data: w },
    log: { debug() {}, info() {}, warn() {} },
  });
  const mask = selectMask(scores, rows, cols, { sparsity: 0.5, group: "matrix" });
  const kept = mask.reduce((a, b) => a + b, 0);
  assert(kept === rows * cols - Math.floor(0.5 * rows * cols), `kept ${kept}`);
});

Deno.test("the scorer conformance kit runs under Deno.test", async (t) => {
  for (const c of scorerConformance(magnitude())) await t.step(c.name, c.run);
});
