// Table 3 (ours): MAMA's movement term on the real fine-tuned pair, as one run of the recipe table3.yaml:
// `npm run table3 -w @mama-prune-examples/reproduce-table2` writes results/table3-movement.{md,csv,json,svg}
// at the repository root.
import { fileURLToPath } from "node:url";
import { main } from "@mama-prune/cli";

export const TABLE3_RECIPE: string = fileURLToPath(new URL("../table3.yaml", import.meta.url));

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(["sweep", "--recipe", TABLE3_RECIPE, ...process.argv.slice(2)], {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    isTTY: process.stderr.isTTY === true,
    cwd: process.cwd(),
  });
}
