export {
  STORIES260K,
  type TestdataFile,
  TINYSTORIES_SAMPLE,
  TOK512,
  TOK512_VOCAB_SIZE,
} from "./files.ts";

// Literal `new URL("…", import.meta.url)` per file, written in this entry (src/ and dist/ both sit beside
// data/), so that bundlers such as Vite copy the files as assets.
/** URL of `stories260K.bin` (a `file:` URL from npm, an `https:` URL from a CDN or JSR). */
export const STORIES260K_URL: URL = new URL("../data/stories260K/stories260K.bin", import.meta.url);
/** URL of `tok512.bin`. */
export const TOK512_URL: URL = new URL("../data/stories260K/tok512.bin", import.meta.url);
/** URL of `tinystories_sample.txt`. */
export const TINYSTORIES_SAMPLE_URL: URL = new URL(
  "../data/tinystories/tinystories_sample.txt",
  import.meta.url,
);

/**
 * The bytes at a URL, e.g. one of this package's data files. `fetch` in browsers and Deno (Deno needs
 * `--allow-read` for a local copy); Node's `fetch` cannot read `file:` URLs, so in Node a `file:` URL is
 * read with `node:fs` instead, imported only then.
 *
 * @throws Error when the file cannot be fetched or read (the message names the URL).
 * @example
 * const bytes = await readTestdata(TOK512_URL); // Uint8Array(6227)
 */
export async function readTestdata(url: URL): Promise<Uint8Array> {
  const g = globalThis as { Deno?: unknown; process?: { versions?: { node?: string } } };
  if (url.protocol === "file:" && g.Deno === undefined && g.process?.versions?.node !== undefined) {
    // A computed specifier: bundlers for the browser must not try to resolve node:fs.
    const fsSpecifier: string = "node:fs/promises";
    const fs = (await import(fsSpecifier)) as { readFile(path: URL): Promise<Uint8Array> };
    const buf = await fs.readFile(url);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`@mama-prune/testdata: cannot fetch ${url.href}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** The stories260K llama2.c checkpoint (1,056,540 bytes): e.g. `readLlama2c(await stories260K())`. */
export function stories260K(): Promise<Uint8Array> {
  return readTestdata(STORIES260K_URL);
}

/** The tok512 llama2.c tokenizer (6,227 bytes): e.g. `readLlama2cTokenizer(await tok512(), 512)`. */
export function tok512(): Promise<Uint8Array> {
  return readTestdata(TOK512_URL);
}

/** The TinyStories sample as text (99,665 characters, 475 paragraphs, 47,527 tok512 tokens). */
export async function tinyStoriesSample(): Promise<string> {
  return new TextDecoder("utf-8", { fatal: true }).decode(await readTestdata(TINYSTORIES_SAMPLE_URL));
}
