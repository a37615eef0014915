// The seven prunable linears of a decoder block: names, shapes and checkpoint tensor names.
import type { LlamaConfig } from "./config.ts";

/** The seven prunable linears of a decoder block, by their Hugging Face module names. */
export type LinearName = "q_proj" | "k_proj" | "v_proj" | "o_proj" | "gate_proj" | "up_proj" | "down_proj";

/**
 * All {@link LinearName}s in execution order.
 *
 * @example
 * for (const name of LINEAR_NAMES) model.linearShape(0, name); // [out, in] of each linear of block 0
 */
export const LINEAR_NAMES: readonly LinearName[] = [
  "q_proj",
  "k_proj",
  "v_proj",
  "o_proj",
  "gate_proj",
  "up_proj",
  "down_proj",
];

const MODULE_OF: Readonly<Record<LinearName, "self_attn" | "mlp">> = {
  q_proj: "self_attn",
  k_proj: "self_attn",
  v_proj: "self_attn",
  o_proj: "self_attn",
  gate_proj: "mlp",
  up_proj: "mlp",
  down_proj: "mlp",
};

/** [out, in] of one linear under `cfg`. */
export function linearShapeOf(cfg: LlamaConfig, name: LinearName): [number, number] {
  const h = cfg.hiddenSize;
  const qDim = cfg.numHeads * cfg.headDim;
  const kvDim = cfg.numKvHeads * cfg.headDim;
  switch (name) {
    case "q_proj":
      return [qDim, h];
    case "k_proj":
    case "v_proj":
      return [kvDim, h];
    case "o_proj":
      return [h, qDim];
    case "gate_proj":
    case "up_proj":
      return [cfg.intermediateSize, h];
    case "down_proj":
      return [h, cfg.intermediateSize];
  }
}

/** The checkpoint tensor name of one linear's weight, e.g. `model.layers.3.mlp.down_proj.weight`. */
export function linearParamName(layer: number, name: LinearName): string {
  return `model.layers.${layer}.${MODULE_OF[name]}.${name}.weight`;
}
