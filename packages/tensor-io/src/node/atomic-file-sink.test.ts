import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isPruneError } from "@mama-prune/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAtomicFileSink } from "./atomic-file-sink.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "atomic-sink-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a failure");
}

describe("createAtomicFileSink", () => {
  it("writes to a hidden temp file in the same folder and moves it into place on close", async () => {
    const path = join(dir, "out.bin");
    const sink = await createAtomicFileSink(path);
    await sink.write(new Uint8Array([1, 2, 3]));
    await sink.write(new Uint8Array([4]));
    expect(await readdir(dir)).toEqual([sink.tempPath.slice(dir.length + 1)]);
    expect(sink.tempPath).toMatch(/\/\.out\.bin\.[0-9a-f-]+\.tmp$/);
    await sink.close();
    expect(Array.from(await readFile(path))).toEqual([1, 2, 3, 4]);
    expect(await readdir(dir)).toEqual(["out.bin"]);
    expect(sink.bytesWritten).toBe(4);
    await sink.close(); // idempotent
  });

  it("deletes the temp file on abort and leaves an existing destination untouched", async () => {
    const path = join(dir, "keep.bin");
    await writeFile(path, "old");
    const sink = await createAtomicFileSink(path, { overwrite: true });
    await sink.write(new Uint8Array([9, 9]));
    await sink.abort(new Error("stop"));
    expect(await readdir(dir)).toEqual(["keep.bin"]);
    expect(await readFile(path, "utf8")).toBe("old");
    const e = await failure(sink.write(new Uint8Array([1])));
    expect(isPruneError(e, "TENSOR_IO_WRITE_FAILED")).toBe(true);
  });

  it("refuses an existing destination unless overwrite is set", async () => {
    const path = join(dir, "exists.bin");
    await writeFile(path, "old");
    const e = await failure(createAtomicFileSink(path));
    expect(isPruneError(e, "TENSOR_IO_EXISTS")).toBe(true);
    expect((e as Error).message).toContain(path);
    const sink = await createAtomicFileSink(path, { overwrite: true });
    await sink.write(new TextEncoder().encode("new"));
    await sink.close();
    expect(await readFile(path, "utf8")).toBe("new");
  });

  it("refuses when the destination appears while writing (no clobber)", async () => {
    const path = join(dir, "race.bin");
    const sink = await createAtomicFileSink(path);
    await sink.write(new Uint8Array([1]));
    await writeFile(path, "theirs");
    const e = await failure(sink.close());
    expect(isPruneError(e, "TENSOR_IO_EXISTS")).toBe(true);
    expect(await readFile(path, "utf8")).toBe("theirs");
    expect(await readdir(dir)).toEqual(["race.bin"]);
  });

  it("refuses to write onto one of its inputs, even with overwrite", async () => {
    const input = join(dir, "model.safetensors");
    await writeFile(input, "weights");
    const e = await failure(
      createAtomicFileSink(join(dir, ".", "model.safetensors"), { overwrite: true, inputs: [input] }),
    );
    expect(isPruneError(e, "TENSOR_IO_EXISTS")).toBe(true);
    expect((e as Error).message).toContain("input");
    expect(await readFile(input, "utf8")).toBe("weights");
  });

  it("reports a missing folder as TENSOR_IO_WRITE_FAILED naming the path", async () => {
    const path = join(dir, "no", "such", "dir", "x.bin");
    const e = await failure(createAtomicFileSink(path));
    expect(isPruneError(e, "TENSOR_IO_WRITE_FAILED")).toBe(true);
    expect((e as Error).message).toContain(path);
    expect((e as Error).message).toContain("ENOENT");
  });
});
