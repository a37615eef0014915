#!/usr/bin/env node
// The packages as a stranger gets them from npm: pack every published package, install the tarballs into an
// empty temporary project, and run every ```ts / ```js snippet of every package README (and the root README)
// there — against the packed dist, without the @mama-prune/source condition — plus the installed CLI's --help,
// and the compiled plugin example (examples/custom-scorer) installed beside it and run through the installed CLI.
//
//   node tools/test-tarballs.mjs [--no-build] [--keep] [--verbose] [--only <package-dir>]...
//
// --no-build: skip `turbo run build` (test-all runs it in its build step). --keep: keep the temp dir.
// --verbose: print every snippet's output. --only: snippets of these packages only (all are still packed).
//
// README markers (an HTML comment on the line right before the ``` fence):
//   <!-- snippet: skip (reason) -->   not runnable here (pseudo-code, needs a GPU, a user's own file); reported
//   <!-- snippet: continue -->        runs appended to the previous snippet of the same README (one program)
// Prints "N passed, N failed" (and the skipped snippets with their reasons); exits 1 on any failure.
import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureInstalled } from "./ensure-install.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const only = argv.flatMap((a, i) => (argv[i - 1] === "--only" ? [a] : []));
const SNIPPET_TIMEOUT_MS = 180_000;
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
const env = { ...process.env, TURBO_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1", NODE_OPTIONS: "" };

function sh(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", env, maxBuffer: 64 << 20, ...options });
  if (r.status !== 0) {
    console.error(`✗ ${cmd} ${args.join(" ")} (exit ${r.status})\n${r.stdout ?? ""}${r.stderr ?? ""}`);
    process.exit(1);
  }
  return r.stdout;
}

ensureInstalled("test-tarballs");
if (!flag("--no-build")) {
  console.log("▶ build: turbo run build");
  sh("npx", ["turbo", "run", "build", "--output-logs=errors-only"], { cwd: root, stdio: "inherit" });
}

// 1. Pack every published package.
const packages = readdirSync(join(root, "packages"))
  .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(root, "packages", dir, "package.json"), "utf8")) }))
  .filter(({ pkg }) => pkg.private !== true)
  .sort((a, b) => a.dir.localeCompare(b.dir));
const tmp = mkdtempSync(join(tmpdir(), "mama-tarballs-"));
const tarballs = join(tmp, "tarballs");
const project = join(tmp, "project");
mkdirSync(tarballs);
mkdirSync(project);
console.log(`▶ npm pack ${packages.length} packages → ${tarballs}`);
const packed = JSON.parse(
  sh(
    "npm",
    [
      "pack",
      "--json",
      "--ignore-scripts",
      "--pack-destination",
      tarballs,
      ...packages.flatMap(({ pkg }) => ["-w", pkg.name]),
    ],
    { cwd: root },
  ),
);
for (const p of packed)
  console.log(`  ${p.name}: ${(p.size / 1024).toFixed(0)} KB packed, ${p.entryCount} files`);

// 2. An empty project that installs all tarballs in one call (every @mama-prune/* dep resolves to a tarball).
writeFileSync(
  join(project, "package.json"),
  `${JSON.stringify({ name: "mama-tarball-test", version: "0.0.0", private: true, type: "module" }, null, 2)}\n`,
);
console.log(`▶ npm install ${packed.length} tarballs (${elapsed()})`);
sh(
  "npm",
  [
    "install",
    "--no-audit",
    "--no-fund",
    "--ignore-scripts",
    "--prefer-offline",
    "--loglevel=error",
    ...packed.map((p) => `../tarballs/${p.filename}`),
  ],
  { cwd: project },
);

// 3. Snippets of every package README (and the root README).
const FENCE = /^```(ts|typescript|js|javascript|mjs)\s*$/;
const MARKER = /^<!--\s*snippet:\s*(skip|continue)\b\s*(?:\((.*)\))?\s*-->\s*$/;
function snippetsOf(readme) {
  const lines = readFileSync(join(root, readme), "utf8").split("\n");
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    const m = FENCE.exec(lines[i]);
    if (!m) continue;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
    const code = lines.slice(i + 1, end).join("\n");
    let k = i - 1;
    while (k >= 0 && lines[k].trim() === "") k--;
    const marker = k >= 0 ? MARKER.exec(lines[k].trim()) : null;
    const ext = m[1].startsWith("t") ? "ts" : "mjs";
    const where = `${readme}:${i + 1}`;
    if (marker?.[1] === "skip") out.push({ where, skip: marker[2] ?? "no reason given" });
    else if (marker?.[1] === "continue" && out.length > 0 && !out.at(-1).skip) {
      out.at(-1).code += `\n${code}`;
      out.at(-1).where += `+${i + 1}`;
    } else out.push({ where, code, ext });
    i = end;
  }
  return out;
}
const readmes = packages
  .filter(({ dir }) => only.length === 0 || only.includes(dir))
  .map(({ dir }) => `packages/${dir}/README.md`)
  .filter((f) => existsSync(join(root, f)));
if (only.length === 0) readmes.push("README.md");
const snippets = readmes.flatMap((r) => snippetsOf(r));
const tsx = join(root, "node_modules", "tsx", "dist", "esm", "index.mjs");
const results = [];

function runNode(args, cwd) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), SNIPPET_TIMEOUT_MS);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ ok: code === 0, output, status: signal ?? code });
    });
  });
}

console.log(`▶ ${snippets.length} README snippets (${elapsed()})`);
const work = join(project, "snippets");
mkdirSync(work);
let n = 0;
for (const s of snippets) {
  if (s.skip) {
    results.push({ ...s, status: "skipped" });
    console.log(`  – ${s.where}: skipped (${s.skip})`);
    continue;
  }
  // Each snippet in its own folder (relative output paths do not collide), inside the project (so its
  // imports resolve from the project's node_modules, i.e. the installed tarballs).
  const dir = join(work, `s${++n}`);
  mkdirSync(dir);
  const file = join(dir, `snippet.${s.ext}`);
  writeFileSync(file, `${s.code}\n`);
  const started = Date.now();
  const r = await runNode(["--import", tsx, file], dir);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  results.push({ ...s, status: r.ok ? "passed" : "failed" });
  console.log(`  ${r.ok ? "✓" : "✗"} ${s.where} (${seconds} s)${r.ok ? "" : ` exit ${r.status}`}`);
  if (!r.ok || flag("--verbose")) console.log(r.output.replace(/^/gm, "    │ "));
}

// 4. The installed CLI: --help, and the CLI README's quick start on the testdata files.
const data = join(project, "node_modules", "@mama-prune", "testdata", "data");
const cliDir = join(work, "cli");
mkdirSync(cliDir);
for (const f of [
  "stories260K/stories260K.bin",
  "stories260K/tok512.bin",
  "tinystories/tinystories_sample.txt",
]) {
  writeFileSync(join(cliDir, f.split("/")[1]), readFileSync(join(data, f)));
}
const cliRuns = [
  [["--help"], /prune/],
  [["prune", "--help"], /--sparsity/],
  [["distill", "--help"], /--teacher <checkpoint>.*\(default: recipe\.distill\.teacher; required\)/],
  [["grpo", "--help"], /--verifier <package\|path>.*\(default: recipe\.grpo\.verifier, else contains-word\)/],
  [
    [
      "prune",
      "stories260K.bin",
      "--method",
      "wanda",
      "--sparsity",
      "0.5",
      "--calibration",
      "tinystories_sample.txt",
    ].concat(["--split", "--nsamples", "16", "--seqlen", "256", "--out", "wanda-50"]),
    /overall sparsity of the block linears: 50\.00 %/,
  ],
  [
    ["eval", "wanda-50", "--text", "tinystories_sample.txt", "--seqlen", "256", "--windows", "16", "--split"],
    /ppl \d/,
  ],
];
for (const [args, expect] of cliRuns) {
  const where = `npx mama-prune ${args.join(" ")}`;
  const started = Date.now();
  const r = spawnSync("npx", ["--no-install", "mama-prune", ...args], { cwd: cliDir, env, encoding: "utf8" });
  const ok = r.status === 0 && expect.test(r.stdout);
  results.push({ where, status: ok ? "passed" : "failed" });
  console.log(`  ${ok ? "✓" : "✗"} ${where} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  if (!ok || flag("--verbose")) console.log(`${r.stdout}${r.stderr}`.replace(/^/gm, "    │ "));
}

// 5. A compiled plugin (examples/custom-scorer, the plugin template): pack it, install it into the same project
// next to the CLI, check that it ships compiled JS + types only, and prune with its method through the
// INSTALLED CLI on plain Node (no tsx, no source condition): a plugin without a toolchain.
{
  const name = "@mama-prune-examples/custom-scorer";
  const started = Date.now();
  const [plugin] = JSON.parse(
    sh("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", tarballs, "-w", name], {
      cwd: root,
    }),
  );
  console.log(
    `▶ plugin ${plugin.name}: ${(plugin.size / 1024).toFixed(1)} KB packed, ${plugin.entryCount} files`,
  );
  sh(
    "npm",
    [
      "install",
      "--no-audit",
      "--no-fund",
      "--ignore-scripts",
      "--prefer-offline",
      "--loglevel=error",
      `../tarballs/${plugin.filename}`,
    ],
    { cwd: project },
  );
  const installed = join(project, "node_modules", ...name.split("/"));
  const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
  const shipped = plugin.files.map((f) => f.path);
  const problems = [
    ...(manifest.keywords?.includes("mama-prune-plugin") ? [] : ["no mama-prune-plugin keyword"]),
    ...["@mama-prune/scoring", "@mama-prune/pipeline"].flatMap((d) =>
      manifest.peerDependencies?.[d] === undefined ? [`${d} is not a peer dependency`] : [],
    ),
    ...(manifest.dependencies === undefined ? [] : ["has dependencies (the contracts must be peers)"]),
    ...shipped
      .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
      .map((f) => `ships TypeScript source ${f}`),
    ...["dist/plugin.js", "dist/plugin.d.ts"].flatMap((f) => (shipped.includes(f) ? [] : [`misses ${f}`])),
  ];
  const where = `plugin tarball ${plugin.filename} (compiled ESM + types, peers, keyword)`;
  results.push({ where, status: problems.length === 0 ? "passed" : "failed" });
  console.log(
    `  ${problems.length === 0 ? "✓" : "✗"} ${where}${problems.length === 0 ? "" : `: ${problems.join("; ")}`}`,
  );
  const args = [
    "prune",
    "stories260K.bin",
    "--plugin",
    name,
    "--method",
    "acme/power-refit",
    "--sparsity",
    "0.5",
  ].concat([
    "--calibration",
    "tinystories_sample.txt",
    "--split",
    "--nsamples",
    "16",
    "--seqlen",
    "256",
    "--out",
    "acme-50",
  ]);
  const cliWhere = `npx mama-prune ${args.join(" ")}`;
  const t = Date.now();
  const r = spawnSync("npx", ["--no-install", "mama-prune", ...args], { cwd: cliDir, env, encoding: "utf8" });
  const ok =
    r.status === 0 &&
    /pruned with acme\/power-refit \(scorer acme\/activation-power, group row, redistribution refit\)/.test(
      r.stdout,
    ) &&
    /overall sparsity of the block linears: 50\.00 %/.test(r.stdout) &&
    existsSync(join(cliDir, "acme-50", "model.safetensors"));
  results.push({ where: cliWhere, status: ok ? "passed" : "failed" });
  console.log(`  ${ok ? "✓" : "✗"} ${cliWhere} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
  if (!ok || flag("--verbose")) console.log(`${r.stdout}${r.stderr}`.replace(/^/gm, "    │ "));
  // The same plugin method from a recipe (plugins + method by name), through the installed CLI.
  writeFileSync(
    join(cliDir, "acme.yaml"),
    [
      "model: stories260K.bin",
      `plugins: ["${name}"]`,
      "method: acme/power-refit",
      "sparsity: 0.5",
      "calibration: { text: tinystories_sample.txt, nsamples: 16, seqlen: 256, split: 0.15 }",
      "output: { dir: acme-recipe }",
      "",
    ].join("\n"),
  );
  const recipeArgs = ["prune", "--recipe", "acme.yaml"];
  const rt = Date.now();
  const rr = spawnSync("npx", ["--no-install", "mama-prune", ...recipeArgs], {
    cwd: cliDir,
    env,
    encoding: "utf8",
  });
  const rok =
    rr.status === 0 &&
    /pruned with acme\/power-refit \(scorer acme\/activation-power, group row, redistribution refit\)/.test(
      rr.stdout,
    ) &&
    existsSync(join(cliDir, "acme-recipe", "model.safetensors"));
  const recipeWhere = `npx mama-prune ${recipeArgs.join(" ")} (plugin method from a recipe)`;
  results.push({ where: recipeWhere, status: rok ? "passed" : "failed" });
  console.log(`  ${rok ? "✓" : "✗"} ${recipeWhere} (${((Date.now() - rt) / 1000).toFixed(1)} s)`);
  if (!rok || flag("--verbose")) console.log(`${rr.stdout}${rr.stderr}`.replace(/^/gm, "    │ "));
  // The failure this step exists for: a TypeScript plugin under the installed CLI on Node < 22 (no type
  // stripping) must fail before any work with an error that says to compile it.
  if (Number(process.versions.node.split(".")[0]) < 22) {
    writeFileSync(join(cliDir, "ts-plugin.ts"), "export const method = (o: unknown): unknown => o;\n");
    const tsArgs = ["prune", "stories260K.bin", "--plugin", "./ts-plugin.ts", "--method", "magnitude"].concat(
      ["--sparsity", "0.5", "--out", "ts-50"],
    );
    const tr = spawnSync("npx", ["--no-install", "mama-prune", ...tsArgs], {
      cwd: cliDir,
      env,
      encoding: "utf8",
    });
    const tsOk =
      tr.status === 2 &&
      /SCORER_NOT_FOUND: plugin "\.\/ts-plugin\.ts": .*Expected compiled ESM JavaScript/.test(tr.stderr) &&
      !existsSync(join(cliDir, "ts-50"));
    const tsWhere = `npx mama-prune ${tsArgs.join(" ")} → exit 2, "compile the plugin"`;
    results.push({ where: tsWhere, status: tsOk ? "passed" : "failed" });
    console.log(`  ${tsOk ? "✓" : "✗"} ${tsWhere}`);
    if (!tsOk || flag("--verbose")) console.log(`${tr.stdout}${tr.stderr}`.replace(/^/gm, "    │ "));
  }
  console.log(`  plugin step: ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

const count = (s) => results.filter((r) => r.status === s).length;
const skipped = results.filter((r) => r.status === "skipped");
if (skipped.length > 0) {
  console.log("\nskipped:");
  for (const s of skipped) console.log(`  ${s.where}: ${s.skip}`);
}
if (flag("--keep")) console.log(`\nkept ${tmp}`);
else rmSync(tmp, { recursive: true, force: true });
console.log(
  `\ntarballs: ${count("passed")} passed, ${count("failed")} failed, ${skipped.length} skipped (${elapsed()})`,
);
process.exit(count("failed") === 0 ? 0 : 1);
