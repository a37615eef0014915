// The paper's Table 2 on the bundled model, as one run of the mama-prune recipe table2.yaml (the
// pipeline's sweep): `npm start -w @mama-prune-examples/reproduce-table2` writes
// results/table2.{md,csv,json,svg} here and, from the same run, the paper-format summary
// results/table2-methods.{md,json} at the repository root (three decimals, the checks, measured sparsity).
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CliIo, parseRecipe, type Recipe, runSweep, type SweepCommandResult } from "@mama-prune/cli";
import { reportJsonObject, reportMarkdown } from "@mama-prune/eval";
import { sweepSparsityTable } from "@mama-prune/pipeline";

export const RECIPE: string = fileURLToPath(new URL("../table2.yaml", import.meta.url));
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

/** The expected shape from the anchors, checked rather than assumed (columns Wanda, SparseGPT, Magnitude, MAMA). */
export function table2Checks(r: SweepCommandResult): Record<string, boolean | string> {
  const col = (name: string): number => r.table.columns.indexOf(name);
  const ppl = (name: string, level: string): number =>
    r.table.values[r.table.levels.indexOf(level)]?.[col(name)] ?? Number.NaN;
  const levels = r.table.levels.filter((l) => l !== "0");
  const from50 = levels.filter((l) => !l.includes(":") && Number(l) >= 0.5);
  const list = (ls: readonly string[]): string => ls.join(", ") || "none";
  return {
    "SparseGPT <= Wanda < magnitude at every level >= 0.5": from50.every(
      (l) => ppl("SparseGPT", l) <= ppl("Wanda", l) && ppl("Wanda", l) < ppl("Magnitude", l),
    ),
    "levels where SparseGPT > Wanda": list(from50.filter((l) => ppl("SparseGPT", l) > ppl("Wanda", l))),
    "levels where MAMA < SparseGPT": list(levels.filter((l) => ppl("MAMA", l) < ppl("SparseGPT", l))),
    "levels where MAMA > SparseGPT": list(levels.filter((l) => ppl("MAMA", l) > ppl("SparseGPT", l))),
  };
}

/** Options of {@link reproduceTable2}. */
export interface ReproduceOptions {
  /** Override recipe keys (tests use tiny settings). */
  readonly recipe?: (r: Recipe) => Recipe;
  /** Where the recipe's reports go (default: the recipe's output.dir). */
  readonly outDir?: string;
  /** Where table2-methods.{md,json} go (default: results/ at the repository root). */
  readonly resultsDir?: string;
  readonly io?: CliIo;
  readonly backend?: "auto" | "wasm" | "js";
}

/** Run table2.yaml once and write both the recipe's reports and the root summary. */
export async function reproduceTable2(o: ReproduceOptions = {}): Promise<SweepCommandResult> {
  const parsed = parseRecipe(await readFile(RECIPE, "utf8"), "table2.yaml");
  const recipe = o.recipe?.(parsed) ?? parsed;
  const r = await runSweep(recipe, {
    io: o.io ?? { stdout: () => {}, stderr: () => {}, cwd: process.cwd() },
    quiet: o.io === undefined,
    baseDir: dirname(RECIPE),
    ...(o.outDir !== undefined ? { outDir: o.outDir } : {}),
    ...(o.backend !== undefined ? { backend: o.backend } : {}),
  });
  const dir = o.resultsDir ?? ROOT_RESULTS;
  const { md, json } = paperSummary(r, table2Checks(r));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "table2-methods.md"), md);
  await writeFile(join(dir, "table2-methods.json"), json);
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

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await reproduceTable2({
    backend: backendArg(process.argv, "reproduce-table2"),
    io: {
      stdout: (s) => process.stdout.write(s),
      stderr: (s) => process.stderr.write(s),
      isTTY: process.stderr.isTTY === true,
      cwd: process.cwd(),
    },
  });
  process.stdout.write(r.markdown);
  process.stdout.write(`\nwrote ${r.files.join(", ")}, results/table2-methods.{md,json}\n`);
}
