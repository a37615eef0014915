// Deno smoke test: imports the packages from TypeScript source (no build) and uses them on the bundled model.
import { createRng, isPruneError, PruneError } from "@mama-prune/core";
import { bytesSource } from "@mama-prune/tensor-io";

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

const modelPath = new URL("../../data/stories260K/stories260K.bin", import.meta.url);

Deno.test("core works under Deno", () => {
  const rng = createRng(1);
  const x = rng.next();
  assert(x >= 0 && x < 1, "rng in [0,1)");
  assert(isPruneError(new PruneError("SHAPE_MISMATCH", "x")), "isPruneError");
});

Deno.test("tensor-io reads the bundled model header from source", async () => {
  const bytes = await Deno.readFile(modelPath);
  const src = bytesSource(bytes, "stories260K.bin");
  const header = new DataView((await src.read(0, 28)).slice().buffer);
  assert(header.getInt32(0, true) === 64, "dim = 64");
  assert(header.getInt32(8, true) === 5, "n_layers = 5");
});
