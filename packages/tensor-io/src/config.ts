// config.json parsing and serialisation (Hugging Face `config.json`, the safetensors index).

import { PruneError, truncateForMessage } from "@mama-prune/core";

/** Bound on a JSON side file (config.json, model.safetensors.index.json) read into memory. */
export const MAX_JSON_FILE_BYTES: number = 64 * 1024 * 1024;

/**
 * Parse JSON bytes that must hold an object (config.json, an index file).
 *
 * @param where File name for messages.
 * @param code Error code for invalid content (default CONFIG_INVALID).
 * @throws PruneError `code` when the bytes are too large, not UTF-8 JSON, or not a JSON object.
 * @example
 * parseJsonObject(new TextEncoder().encode('{"model_type":"llama"}'), "config.json").model_type; // "llama"
 */
export function parseJsonObject(
  bytes: Uint8Array,
  where: string,
  code: "CONFIG_INVALID" | "TENSOR_IO_MALFORMED" = "CONFIG_INVALID",
): Record<string, unknown> {
  if (bytes.byteLength > MAX_JSON_FILE_BYTES) {
    throw new PruneError(
      code,
      `${where}: file is too large. Expected at most ${MAX_JSON_FILE_BYTES} bytes, got ${bytes.byteLength}.`,
    );
  }
  let text: string;
  let value: unknown;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    value = JSON.parse(text);
  } catch (e) {
    throw new PruneError(code, `${where}: not valid UTF-8 JSON (${truncateForMessage(String(e))}).`, {
      cause: e,
    });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new PruneError(
      code,
      `${where}: top level is not a JSON object. Expected an object, got ${Array.isArray(value) ? "an array" : truncateForMessage(value)}.`,
    );
  }
  return value as Record<string, unknown>;
}

/**
 * Serialise a config object as Hugging Face does (2-space indent, trailing newline), UTF-8.
 *
 * @throws TypeError when the object cannot be serialised (cycles, BigInt).
 * @example
 * new TextDecoder().decode(configJsonBytes({ a: 1 })); // '{\n  "a": 1\n}\n'
 */
export function configJsonBytes(config: Readonly<Record<string, unknown>>): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`);
}
