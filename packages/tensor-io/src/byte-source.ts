import { PruneError } from "@mama-prune/core";
import type { ByteSource } from "./types.ts";

function checkRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new RangeError(`${name}: invalid read range offset=${offset} length=${length}`);
  }
  if (offset + length > size) {
    throw new PruneError(
      "TENSOR_IO_MALFORMED",
      `${name}: read of ${length} bytes at offset ${offset} runs past the end. Expected at most ${size} bytes, got offset+length = ${offset + length}.`,
    );
  }
}

/**
 * A ByteSource over bytes already in memory (no copy: reads return subarray views).
 *
 * @example
 * const src = bytesSource(new Uint8Array([1, 2, 3])); (await src.read(1, 2)); // Uint8Array [2, 3]
 */
export function bytesSource(input: Uint8Array, name = "<memory>"): ByteSource {
  // A subclass such as Node's Buffer has a non-copying `slice`, which breaks code (ours or a caller's)
  // that relies on the web-standard Uint8Array semantics of `slice()`: view it as a plain Uint8Array.
  const bytes =
    Object.getPrototypeOf(input) === Uint8Array.prototype
      ? input
      : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  return {
    name,
    size: bytes.byteLength,
    read(offset: number, length: number): Promise<Uint8Array> {
      try {
        checkRange(name, bytes.byteLength, offset, length);
      } catch (e) {
        return Promise.reject(e);
      }
      return Promise.resolve(bytes.subarray(offset, offset + length));
    },
  };
}

/**
 * A ByteSource over a web Blob (or File): each read slices the blob, so only the requested range is loaded.
 *
 * @example
 * const src = blobSource(await fetch(url).then((r) => r.blob()), url);
 */
export function blobSource(blob: Blob, name = "<blob>"): ByteSource {
  return {
    name,
    size: blob.size,
    async read(offset: number, length: number): Promise<Uint8Array> {
      checkRange(name, blob.size, offset, length);
      const buf = await blob.slice(offset, offset + length).arrayBuffer();
      if (buf.byteLength !== length) {
        throw new PruneError(
          "TENSOR_IO_MALFORMED",
          `${name}: short read at offset ${offset}. Expected ${length} bytes, got ${buf.byteLength}.`,
        );
      }
      return new Uint8Array(buf);
    },
  };
}

/**
 * Check a `readRawRange` request against a tensor's byte length.
 *
 * @throws RangeError when `offset`/`length` are not non-negative safe integers or leave the tensor.
 * @example
 * checkTensorRange("model.safetensors: tensor \"w\"", 0, 8, 16); // ok
 */
export function checkTensorRange(where: string, offset: number, length: number, byteLength: number): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > byteLength
  ) {
    throw new RangeError(
      `${where}: readRawRange must stay inside the tensor's ${byteLength} bytes. Expected integers with 0 ≤ offset and offset + length ≤ ${byteLength}, got offset ${offset}, length ${length}.`,
    );
  }
}

/** Accept the common input kinds (ByteSource, Uint8Array, Blob) and return a ByteSource. */
export function toByteSource(input: ByteSource | Uint8Array | Blob, name?: string): ByteSource {
  if (input instanceof Uint8Array) return bytesSource(input, name);
  if (typeof Blob !== "undefined" && input instanceof Blob) return blobSource(input, name);
  return input as ByteSource;
}
