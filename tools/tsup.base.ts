import type { Options } from "tsup";

/** Shared tsup options: ESM + .d.ts, neutral platform, siblings stay external. */
export const base: Options = {
  format: ["esm"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "es2022",
  platform: "neutral",
  splitting: false,
  treeshake: true,
  // Node built-ins appear only under src/node/** (the ./node subpaths); never bundle them.
  external: [/^node:/],
};
