import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isPruneError, sha256Hex } from "@mama-prune/core";
import { LINEAR_NAMES } from "@mama-prune/model";
import { checkpointEntries } from "@mama-prune/tensor-io";
import { openCheckpoint, writeHfCheckpointFolder } from "@mama-prune/tensor-io/node";
import { afterAll, describe, expect, it } from "vitest";
import { randomModel } from "../../test/fixtures/random-model.ts";
import { prune } from "../prune.ts";
import { pruneToCheckpointFolder, writePrunedCheckpointFolder } from "./write-folder.ts";

const tmp = await mkdtemp(join(tmpdir(), "pipeline-"));
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function folderDigest(path: string): Promise<string[]> {
  const out: string[] = [];
  for (const f of (await readdir(path)).sort())
    out.push(`${f}:${await sha256Hex(new Uint8Array(await readFile(join(path, f))))}`);
  return out;
}

describe("writePrunedCheckpointFolder", () => {
  it("writes a sparse folder that reads back identically, never touching the input folder", async () => {
    const { checkpoint: mem } = await randomModel({ layers: 2 });
    const input = join(tmp, "input");
    await writeHfCheckpointFolder(input, { config: mem.config, tensors: checkpointEntries(mem) });
    const before = await folderDigest(input);
    const source = await openCheckpoint(input);
    const { model, report } = await prune({ checkpoint: source, method: "magnitude", sparsity: 0.5 });
    const out = join(tmp, "out");
    await writePrunedCheckpointFolder(out, {
      model,
      source,
      report,
      format: "sparse-bitmask",
      inputs: [input],
    });
    const back = await openCheckpoint(out);
    for (const name of LINEAR_NAMES) {
      expect(Array.from(await back.readF32(model.parameterName(1, name)))).toEqual(
        Array.from(model.getLinearWeight(1, name)),
      );
    }
    await back.close();
    let err: unknown;
    try {
      await writePrunedCheckpointFolder(join(input, "nested"), { model, source, report, inputs: [input] });
    } catch (e) {
      err = e;
    }
    expect(isPruneError(err, "TENSOR_IO_EXISTS")).toBe(true);
    await source.close();
    expect(await folderDigest(input)).toEqual(before);
  });

  it("prunes block by block straight into a folder (pruneToCheckpointFolder) without touching the input", async () => {
    const { checkpoint: mem } = await randomModel({ layers: 3 });
    const input = join(tmp, "input2");
    await writeHfCheckpointFolder(input, { config: mem.config, tensors: checkpointEntries(mem) });
    const before = await folderDigest(input);
    const source = await openCheckpoint(input);
    const ref = await prune({ checkpoint: source, method: "magnitude", sparsity: 0.4 });
    const out = join(tmp, "streamed");
    const { report } = await pruneToCheckpointFolder(out, {
      checkpoint: source,
      method: "magnitude",
      sparsity: 0.4,
      format: "sparse-bitmask",
      inputs: [input],
    });
    expect(report.overallSparsity).toBe(ref.report.overallSparsity);
    const back = await openCheckpoint(out);
    for (const name of LINEAR_NAMES) {
      expect(Array.from(await back.readF32(ref.model.parameterName(2, name)))).toEqual(
        Array.from(ref.model.getLinearWeight(2, name)),
      );
    }
    await back.close();
    await source.close();
    expect(await folderDigest(input)).toEqual(before);
  });
});
