#!/usr/bin/env node
// `npm run bench`: every package's benchmark, one after another (never in parallel: they measure speed).
// Each package (and example with a bench script) writes its results under <dir>/bench-results/. Extra args are passed through
// (e.g. `npm run bench -- --quick`).
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const quick = process.argv.includes("--quick");
let failures = 0;
const dirs = ["packages", "examples"].flatMap((top) =>
  readdirSync(top)
    .sort()
    .map((name) => join(top, name)),
);
for (const dir of dirs) {
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  if (!pkg.scripts?.bench) continue;
  console.log(`\n▶ bench ${pkg.name}`);
  const args = ["run", "bench", "-w", pkg.name];
  if (quick) args.push("--", "--quick");
  const r = spawnSync("npm", args, { stdio: "inherit" });
  if (r.status !== 0) failures++;
}
process.exit(failures === 0 ? 0 : 1);
