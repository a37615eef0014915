#!/usr/bin/env node
// The whole test suite, as CI runs it (`npm test`): lint, typecheck, unit/integration tests (vitest),
// build + publish checks (publint, are-the-types-wrong), the packed tarballs with every README snippet
// (tools/test-tarballs.mjs), and the Deno smoke test.
// Prints a closing line "N passed, N failed" for the vitest run and exits non-zero on any failure.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureInstalled, gpuEnv } from "./ensure-install.mjs";

ensureInstalled("test");

const steps = [];
function run(label, cmd, args, env = {}) {
  const t0 = Date.now();
  console.log(`\n▶ ${label}: ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, {
    stdio: "inherit",
    env: { TURBO_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1", ...process.env, ...gpuEnv(), ...env },
  });
  const ok = r.status === 0;
  steps.push({ label, ok, seconds: (Date.now() - t0) / 1000 });
  return ok;
}

const only = process.argv.slice(2);
const want = (name) => only.length === 0 || only.includes(name);
const tmp = mkdtempSync(join(tmpdir(), "mama-test-"));
const jsonOut = join(tmp, "vitest.json");
let passed = 0;
let failed = 0;

if (want("lint")) run("lint", "npx", ["biome", "check", "."]);
if (want("typecheck")) run("typecheck", "npx", ["turbo", "run", "typecheck", "--output-logs=errors-only"]);
if (want("unit")) {
  run("tests", "npx", [
    "vitest",
    "run",
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${jsonOut}`,
  ]);
  try {
    const report = JSON.parse(readFileSync(jsonOut, "utf8"));
    passed = report.numPassedTests ?? 0;
    failed = (report.numFailedTests ?? 0) + (report.numFailedTestSuites ?? 0);
  } catch {
    failed += 1;
  }
}
if (want("build"))
  run("build + publish checks", "npx", [
    "turbo",
    "run",
    "build",
    "check:publish",
    "--output-logs=errors-only",
  ]);
// Packs every package, installs the tarballs into an empty project and runs every README snippet there.
if (want("tarballs")) {
  const args = ["tools/test-tarballs.mjs", ...(want("build") ? ["--no-build"] : [])];
  run("tarballs + README snippets", "node", args);
}
if (want("deno")) {
  run("deno smoke", "npm", ["run", "--silent", "test:deno"]);
  run("jsr publish dry run", "npm", ["run", "--silent", "check:jsr"]);
}
rmSync(tmp, { recursive: true, force: true });

console.log("\nsummary:");
for (const s of steps) console.log(`  ${s.ok ? "ok  " : "FAIL"} ${s.label} (${s.seconds.toFixed(1)} s)`);
const stepFailures = steps.filter((s) => !s.ok).length;
console.log(`\nvitest: ${passed} passed, ${failed} failed`);
process.exit(stepFailures === 0 && failed === 0 ? 0 : 1);
