// A one-block view of a checkpoint: what loadLlama needs to hold one decoder block, shared by the
// streaming prune (stream.ts) and the streaming evaluation (stream-eval.ts).
import type { Checkpoint, TensorInfo } from "@mama-prune/tensor-io";

/**
 * A one-block view of `source`: config with one layer and a 1-token vocabulary, block `l`'s tensors
 * under `model.layers.0.*`, and stand-ins for the embedding and final norm (never used: the pipeline
 * only runs the block). Loading it with `loadLlama` allocates one block's weights.
 *
 * @example
 * const block = await loadLlama(blockCheckpoint(checkpoint, 3, 2048), { backend }); // block 3 as layer 0
 */
export function blockCheckpoint(source: Checkpoint, l: number, hidden: number): Checkpoint {
  const prefix = "model.layers.0.";
  const map = (n: string): string =>
    n.startsWith(prefix) ? `model.layers.${l}.${n.slice(prefix.length)}` : n;
  const fake = new Map<string, number[]>([
    ["model.embed_tokens.weight", [1, hidden]],
    ["model.norm.weight", [hidden]],
  ]);
  const fakeInfo = (n: string, shape: number[]): TensorInfo => ({
    name: n,
    dtype: "F32",
    shape,
    byteLength: 4 * shape.reduce((a, b) => a * b, 1),
  });
  return {
    source: `${source.source} (block ${l})`,
    format: source.format,
    config: { ...source.config, num_hidden_layers: 1, vocab_size: 1, tie_word_embeddings: true },
    list: () => [],
    has: (n) => fake.has(n) || (n.startsWith(prefix) && source.has(map(n))),
    info: (n) => {
      const shape = fake.get(n);
      return shape !== undefined ? fakeInfo(n, shape) : { ...source.info(map(n)), name: n };
    },
    readRaw: async (n) => {
      const shape = fake.get(n);
      if (shape === undefined) return source.readRaw(map(n));
      return new Uint8Array(new Float32Array(shape.reduce((a, b) => a * b, 1)).buffer);
    },
    readF32: async (n) => {
      const shape = fake.get(n);
      return shape !== undefined
        ? new Float32Array(shape.reduce((a, b) => a * b, 1))
        : source.readF32(map(n));
    },
    close: async () => {},
  };
}
