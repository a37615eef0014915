#!/usr/bin/env node
// `npm run demo`: the main job on the bundled model. Installs what it needs on a fresh clone
// (npm ci when node_modules is missing or stale), then runs examples/demo from TypeScript source.
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const lock = join(root, "package-lock.json");
const marker = join(root, "node_modules", ".package-lock.json");
const stale = !existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs;
if (stale) {
  console.log("demo: installing dependencies (npm ci) …");
  const r = spawnSync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd: root,
    stdio: "inherit",
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
const tsx = join(root, "node_modules", ".bin", "tsx");
const r = spawnSync(
  tsx,
  [
    "--conditions",
    "@mama-prune/source",
    join(root, "examples", "demo", "src", "main.ts"),
    ...process.argv.slice(2),
  ],
  {
    cwd: root,
    stdio: "inherit",
  },
);
process.exit(r.status ?? 1);
