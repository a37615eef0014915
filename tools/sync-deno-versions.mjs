#!/usr/bin/env node
// Copy each package.json version into its deno.json (run by `npm run version-packages`); fails when names differ.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

let bad = 0;
for (const name of readdirSync("packages")) {
  const pj = join("packages", name, "package.json");
  const dj = join("packages", name, "deno.json");
  if (!existsSync(pj) || !existsSync(dj)) continue;
  const pkg = JSON.parse(readFileSync(pj, "utf8"));
  const deno = JSON.parse(readFileSync(dj, "utf8"));
  if (pkg.name !== deno.name) {
    console.error(`${dj}: name ${deno.name} differs from package.json name ${pkg.name}`);
    bad++;
    continue;
  }
  if (deno.version !== pkg.version) {
    deno.version = pkg.version;
    writeFileSync(dj, `${JSON.stringify(deno, null, 2)}\n`);
    console.log(`${dj}: version → ${pkg.version}`);
  }
}
process.exit(bad === 0 ? 0 : 1);
