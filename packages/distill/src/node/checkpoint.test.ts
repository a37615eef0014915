import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isPruneError } from "@mama-prune/core";
import { readHfCheckpointFolder } from "@mama-prune/tensor-io/node";
import { afterAll, describe, expect, it } from "vitest";
import { initLlamaParams, paramsFromCheckpoint } from "../params.ts";
import { writeParamsFolder } from "./checkpoint.ts";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("writeParamsFolder", () => {
  it("round-trips every tensor bit for bit through an HF folder", async () => {
    const root = await mkdtemp(join(tmpdir(), "distill-"));
    dirs.push(root);
    const p = initLlamaParams({
      hiddenSize: 8,
      intermediateSize: 12,
      numLayers: 1,
      numHeads: 2,
      numKvHeads: 1,
      vocabSize: 10,
      attentionBias: true,
      seed: 4,
    });
    const res = await writeParamsFolder(join(root, "out"), p, { configExtra: { note: "sft" } });
    expect(res.files).toContain("model.safetensors");
    const ckpt = await readHfCheckpointFolder(join(root, "out"));
    expect(ckpt.config["note"]).toBe("sft");
    const back = await paramsFromCheckpoint(ckpt);
    await ckpt.close();
    expect([...back.tensors.keys()]).toEqual([...p.tensors.keys()]);
    for (const [n, t] of p.tensors) expect(back.tensors.get(n), n).toEqual(t);
    try {
      await writeParamsFolder(join(root, "out"), p);
      expect.unreachable();
    } catch (e) {
      expect(isPruneError(e, "TENSOR_IO_EXISTS")).toBe(true);
    }
  });
});
