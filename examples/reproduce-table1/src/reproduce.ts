// What the reproduce-table examples share (reproduce-table2 imports it as
// @mama-prune-examples/reproduce-table1/reproduce): run a recipe's sweep once and write both the
// recipe's reports and the paper-format summary at the repository root, and the --backend argument.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CliIo, parseRecipe, type Recipe, runSweep, type SweepCommandResult } from "@mama-prune/cli";
import { reportJsonObject, reportMarkdown } from "@mama-prune/eval";
import { sweepSparsityTable } from "@mama-prune/pipeline";

/** results/ at the repository root. */
export const ROOT_RESULTS: string = fileURLToPath(new URL("../../../results/", import.meta.url));

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

/** Options of a reproduce run. */
export interface ReproduceOptions {
  /** Override recipe keys (tests use tiny settings). */
  readonly recipe?: (r: Recipe) => Recipe;
  /** Where the recipe's reports go (default: the recipe's output.dir). */
  readonly outDir?: string;
  /** Where the root summary goes (default: results/ at the repository root). */
  readonly resultsDir?: string;
  readonly io?: CliIo;
  readonly backend?: "auto" | "wasm" | "js";
}

/**
 * Run the recipe at `recipePath` once and write both its reports and the root summary
 * `<summary>.{md,json}` (with `checks` of the run).
 */
export async function reproduceRecipe(
  recipePath: string,
  summary: string,
  checks: (r: SweepCommandResult) => Readonly<Record<string, boolean | string>>,
  o: ReproduceOptions = {},
): Promise<SweepCommandResult> {
  const parsed = parseRecipe(await readFile(recipePath, "utf8"), basename(recipePath));
  const recipe = o.recipe?.(parsed) ?? parsed;
  const r = await runSweep(recipe, {
    io: o.io ?? { stdout: () => {}, stderr: () => {}, cwd: process.cwd() },
    quiet: o.io === undefined,
    baseDir: dirname(recipePath),
    ...(o.outDir !== undefined ? { outDir: o.outDir } : {}),
    ...(o.backend !== undefined ? { backend: o.backend } : {}),
  });
  const dir = o.resultsDir ?? ROOT_RESULTS;
  const { md, json } = paperSummary(r, checks(r));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${summary}.md`), md);
  await writeFile(join(dir, `${summary}.json`), json);
  return r;
}

/** `--backend auto|wasm|js` from argv (default auto). */
export function backendArg(argv: readonly string[], what: string): "auto" | "wasm" | "js" {
  const i = argv.indexOf("--backend");
  const b = i >= 0 ? argv[i + 1] : "auto";
  if (b !== "auto" && b !== "wasm" && b !== "js") {
    throw new RangeError(`${what} --backend: expected auto, wasm or js, got ${JSON.stringify(b)}`);
  }
  return b;
}

/** The process's standard streams as a CliIo (progress on a terminal). */
export function processIo(): CliIo {
  return {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    isTTY: process.stderr.isTTY === true,
    cwd: process.cwd(),
  };
}
