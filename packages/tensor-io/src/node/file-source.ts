import { open } from "node:fs/promises";
import { PruneError } from "@mama-prune/core";
import type { ReadIntoByteSource } from "../safetensors.ts";

/**
 * Open a file as a ByteSource backed by a Node file handle: reads are positional `pread`s, so a
 * tensor is read without loading the file, and `readInto` fills caller memory directly (no
 * intermediate buffer). Call `close()` when done.
 *
 * @throws PruneError TENSOR_IO_NOT_FOUND when the file does not exist; TENSOR_IO_MALFORMED when it is
 * not a readable regular file.
 * @example
 * const src = await openFileSource("model.safetensors"); await src.read(0, 8); await src.close();
 */
export async function openFileSource(path: string): Promise<ReadIntoByteSource & { close(): Promise<void> }> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "r");
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new PruneError(
      code === "ENOENT" ? "TENSOR_IO_NOT_FOUND" : "TENSOR_IO_MALFORMED",
      `${path}: cannot open for reading (${code ?? String(e)})`,
      { cause: e },
    );
  }
  let size: number;
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new PruneError("TENSOR_IO_MALFORMED", `${path}: not a regular file`);
    size = st.size;
  } catch (e) {
    await handle.close();
    throw e;
  }
  let closed = false;
  const check = (offset: number, length: number): void => {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new RangeError(`${path}: invalid read range offset=${offset} length=${length}`);
    }
    if (offset + length > size) {
      throw new PruneError(
        "TENSOR_IO_MALFORMED",
        `${path}: read of ${length} bytes at offset ${offset} runs past the end. Expected at most ${size} bytes, got offset+length = ${offset + length}.`,
      );
    }
    if (closed) throw new PruneError("TENSOR_IO_MALFORMED", `${path}: read after close`);
  };
  const fill = async (offset: number, target: Uint8Array): Promise<void> => {
    const length = target.byteLength;
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(target, done, length - done, offset + done);
      if (bytesRead === 0) {
        throw new PruneError(
          "TENSOR_IO_MALFORMED",
          `${path}: file shrank while reading at offset ${offset + done}`,
        );
      }
      done += bytesRead;
    }
  };
  return {
    name: path,
    size,
    async readInto(offset: number, target: Uint8Array): Promise<void> {
      check(offset, target.byteLength);
      await fill(offset, target);
    },
    async read(offset: number, length: number): Promise<Uint8Array> {
      check(offset, length);
      const out = new Uint8Array(length); // (length,)
      await fill(offset, out);
      return out;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}
