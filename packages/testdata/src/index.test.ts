import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import {
  readTestdata,
  STORIES260K,
  STORIES260K_URL,
  stories260K,
  TINYSTORIES_SAMPLE,
  TINYSTORIES_SAMPLE_URL,
  TOK512,
  TOK512_URL,
  tinyStoriesSample,
  tok512,
} from "./index.ts";
import { STORIES260K_PATH, TINYSTORIES_SAMPLE_PATH, TOK512_PATH } from "./node/index.ts";

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");
const repo = (p: string): URL => new URL(`../../../${p}`, import.meta.url);

describe("@mama-prune/testdata", () => {
  it("loads each file with the recorded size and checksum", async () => {
    const files = [
      [STORIES260K, await stories260K()],
      [TOK512, await tok512()],
      [TINYSTORIES_SAMPLE, new TextEncoder().encode(await tinyStoriesSample())],
    ] as const;
    for (const [meta, bytes] of files) {
      expect([meta.path, bytes.length, sha256(bytes)]).toEqual([meta.path, meta.bytes, meta.sha256]);
    }
  });

  it("ships byte-identical copies of the repository's data (the sample is a prefix of tinystories_val.txt)", async () => {
    expect(sha256(await stories260K())).toBe(
      sha256(await readFile(repo("data/stories260K/stories260K.bin"))),
    );
    expect(sha256(await tok512())).toBe(sha256(await readFile(repo("data/stories260K/tok512.bin"))));
    const full = await readFile(repo("data/tinystories/tinystories_val.txt"), "utf8");
    const sample = await tinyStoriesSample();
    expect(full.startsWith(sample)).toBe(true);
    expect(full.slice(sample.length, sample.length + 2)).toBe("\n\n"); // cut at a paragraph boundary
    expect(sample.split("\n\n")).toHaveLength(475);
  });

  it("exports URLs and paths of the same files", async () => {
    expect(STORIES260K_URL.href.endsWith(STORIES260K.path)).toBe(true);
    expect(TOK512_URL.protocol).toBe("file:");
    expect(await readFile(TOK512_PATH)).toEqual(Buffer.from(await readTestdata(TOK512_URL)));
    expect((await readFile(STORIES260K_PATH)).length).toBe(STORIES260K.bytes);
    expect((await readFile(TINYSTORIES_SAMPLE_PATH, "utf8")).length).toBe(TINYSTORIES_SAMPLE.bytes);
    expect(TINYSTORIES_SAMPLE_URL.pathname.endsWith("tinystories_sample.txt")).toBe(true);
  });

  it("names the URL when a file is missing", async () => {
    await expect(readTestdata(new URL("../data/missing.bin", TOK512_URL))).rejects.toThrow(/missing\.bin/);
  });
});
