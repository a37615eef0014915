import { defineConfig } from "tsup";
import { base } from "../../tools/tsup.base.ts";

// One build, so bin.js and index.js share their code through split chunks. The hashbang lands on every
// emitted file; ES2023 hashbang syntax is valid at the start of any module.
export default defineConfig({
  ...base,
  platform: "node",
  entry: { index: "src/index.ts", bin: "src/bin.ts" },
  banner: { js: "#!/usr/bin/env node" },
});
