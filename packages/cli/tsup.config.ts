import { defineConfig } from "tsup";
import { base } from "../../tools/tsup.base.ts";

export default defineConfig([
  { ...base, platform: "node", entry: { index: "src/index.ts" } },
  {
    ...base,
    platform: "node",
    clean: false,
    dts: false,
    entry: { bin: "src/bin.ts" },
    banner: { js: "#!/usr/bin/env node" },
  },
]);
