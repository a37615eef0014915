import { defineConfig } from "tsup";
import { base } from "../../tools/tsup.base.ts";

export default defineConfig({ ...base, entry: { index: "src/index.ts", "node/index": "src/node/index.ts" } });
