import type { Options } from "tsup";

/**
 * Shared tsup options: ESM + .d.ts, neutral platform, siblings stay external. Entries of one package
 * share code through split chunks (no entry bundles another entry's code), and the source maps point
 * at the shipped `src/*.ts` instead of embedding a second copy of every source (`sourcesContent`).
 */
export const base: Options = {
  format: ["esm"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "es2022",
  platform: "neutral",
  splitting: true,
  treeshake: true,
  // Node built-ins appear only under src/node/** (the ./node subpaths); never bundle them.
  external: [/^node:/],
  esbuildOptions(options) {
    options.sourcesContent = false;
  },
};
