import { fileURLToPath } from "node:url";

// Written in this entry (src/node/ and dist/node/ are both two levels below the package root).
/** Absolute path of `stories260K.bin` (for tools that take paths, e.g. the `mama-prune` CLI). */
export const STORIES260K_PATH: string = fileURLToPath(
  new URL("../../data/stories260K/stories260K.bin", import.meta.url),
);
/** Absolute path of `tok512.bin`. */
export const TOK512_PATH: string = fileURLToPath(
  new URL("../../data/stories260K/tok512.bin", import.meta.url),
);
/** Absolute path of `tinystories_sample.txt`. */
export const TINYSTORIES_SAMPLE_PATH: string = fileURLToPath(
  new URL("../../data/tinystories/tinystories_sample.txt", import.meta.url),
);
