#!/usr/bin/env node
// `npm run demo`: the main job on the bundled model. Installs what it needs on a fresh clone
// (npm ci when node_modules is missing or stale), then runs examples/demo from TypeScript source.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ensureInstalled, gpuEnv, root } from "./ensure-install.mjs";

ensureInstalled("demo");
const tsx = join(root, "node_modules", ".bin", "tsx");
const main = join(root, "examples", "demo", "src", "main.ts");
const r = spawnSync(tsx, ["--conditions", "@mama-prune/source", main, ...process.argv.slice(2)], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, ...gpuEnv() },
});
process.exit(r.status ?? 1);
