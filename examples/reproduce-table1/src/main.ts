// The paper's Table 1 on the bundled model, as one run of the mama-prune recipe table1.yaml (the
// pipeline's sweep): `npm start -w @mama-prune-examples/reproduce-table1` writes
// results/table1.{md,csv,json,svg} here and, from the same run, the paper-format summary
// results/table1-weights.{md,json} at the repository root (three decimals, the check, measured sparsity).
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CliIo, parseRecipe, type Recipe, runSweep, type SweepCommandResult } from "@mama-prune/cli";
import { reportJsonObject, reportMarkdown } from "@mama-prune/eval";
import { sweepSparsityTable } from "@mama-prune/pipeline";

export const RECIPE: string = fileURLToPath(new URL("../table1.yaml", import.meta.url));
const ROOT_RESULTS = fileURLToPath(new URL("../../../results/", import.meta.url));

/**
 * The root results/ summary of a sweep: the table with three decimals in fixed form, the checks and
 * the measured sparsity, as Markdown and JSON.
 */
export function paperSummary(
  r: SweepCommandResult,
  checks: Readonly<Record<string, boolean | string>>,
): { md: string; json: string } {
  const md = [
    reportMarkdown(r.table, { digits: 3, headingLevel: 1, expFrom: Number.POSITIVE_INFINITY }),
    "Checks:",
    "",
    ...Object.entries(checks).map(([k, v]) => `- ${k}: ${String(v)}`),
    "",
    reportMarkdown(sweepSparsityTable(r.table, r.runs), { digits: 4 }),
  ].join("\n");
  const json = { ...reportJsonObject(r.table), dense: r.dense, checks, runs: r.runs };
  return { md, json: `${JSON.stringify(json, null, 2)}\n` };
}

/** The paper's expected shape of Table 1, checked rather than assumed. */
export function table1Checks(r: SweepCommandResult): Record<string, boolean> {
  const at = (level: string, c: number): number =>
    r.table.values[r.table.levels.indexOf(level)]?.[c] ?? Number.NaN;
  return { "-weights collapses at 0.1 (ppl > 10 × dense)": at("0.1", 1) > 10 * r.dense };
}

/** Options of {@link reproduceTable1}. */
export interface ReproduceOptions {
  /** Override recipe keys (tests use tiny settings). */
  readonly recipe?: (r: Recipe) => Recipe;
  /** Where the recipe's reports go (default: the recipe's output.dir). */
  readonly outDir?: string;
  /** Where table1-weights.{md,json} go (default: results/ at the repository root). */
  readonly resultsDir?: string;
  readonly io?: CliIo;
  readonly backend?: "auto" | "wasm" | "js";
}

/** Run table1.yaml once and write both the recipe's reports and the root summary. */
export async function reproduceTable1(o: ReproduceOptions = {}): Promise<SweepCommandResult> {
  const parsed = parseRecipe(await readFile(RECIPE, "utf8"), "table1.yaml");
  const recipe = o.recipe?.(parsed) ?? parsed;
  const r = await runSweep(recipe, {
    io: o.io ?? { stdout: () => {}, stderr: () => {}, cwd: process.cwd() },
    quiet: o.io === undefined,
    baseDir: dirname(RECIPE),
    ...(o.outDir !== undefined ? { outDir: o.outDir } : {}),
    ...(o.backend !== undefined ? { backend: o.backend } : {}),
  });
  const dir = o.resultsDir ?? ROOT_RESULTS;
  const { md, json } = paperSummary(r, table1Checks(r));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "table1-weights.md"), md);
  await writeFile(join(dir, "table1-weights.json"), json);
  return r;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf("--backend");
  const backend = i >= 0 ? process.argv[i + 1] : "auto";
  if (backend !== "auto" && backend !== "wasm" && backend !== "js") {
    throw new RangeError(
      `reproduce-table1 --backend: expected auto, wasm or js, got ${JSON.stringify(backend)}`,
    );
  }
  const r = await reproduceTable1({
    backend,
    io: {
      stdout: (s) => process.stdout.write(s),
      stderr: (s) => process.stderr.write(s),
      isTTY: process.stderr.isTTY === true,
      cwd: process.cwd(),
    },
  });
  process.stdout.write(r.markdown);
  process.stdout.write(`\nwrote ${r.files.join(", ")}, results/table1-weights.{md,json}\n`);
}
