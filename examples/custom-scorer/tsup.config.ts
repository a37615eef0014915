// The plugin's build: one compiled ESM entry plus its .d.ts, so the installed `mama-prune` CLI can
// import it on plain Node 20 (no TypeScript loader). @mama-prune/* are peer dependencies: tsup keeps
// dependencies and peerDependencies external, so the plugin uses the host's copy of the contracts.
import { defineConfig } from "tsup";

export default defineConfig({
  entry: { plugin: "src/plugin.ts" },
  format: ["esm"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "es2022",
  platform: "neutral",
});
