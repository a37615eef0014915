import { crossEntropyLoss, trainBackward, trainForward } from "@mama-prune/distill";
import { loadBundled } from "./common.ts";

const { params, tokenizer, split } = await loadBundled();
const toks = tokenizer.encode(split.calibration, { bos: true });
console.log("cal tokens", toks.length);
for (const [b, T] of [
  [8, 128],
  [4, 256],
] as const) {
  const inp = Int32Array.from(toks.subarray(0, b * T));
  const tgt = Int32Array.from(toks.subarray(1, b * T + 1));
  for (let r = 0; r < 2; r++) {
    const t0 = performance.now();
    const { logits, tape } = await trainForward(params, inp, b, T);
    const t1 = performance.now();
    const l = crossEntropyLoss(logits, tgt, b * T, 512);
    await trainBackward(tape, l.dLogits);
    const t2 = performance.now();
    console.log(b, T, "fwd", (t1 - t0).toFixed(0), "bwd", (t2 - t1).toFixed(0), "loss", l.loss.toFixed(3));
  }
}
