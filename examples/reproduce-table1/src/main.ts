// The paper's Table 1 on the bundled model, as a thin run of the mama-prune CLI over table1.yaml:
// `npm start -w @mama-prune-examples/reproduce-table1` writes results/table1.{md,csv,json,svg} here.
import { fileURLToPath } from "node:url";
import { main } from "@mama-prune/cli";

export const RECIPE: string = fileURLToPath(new URL("../table1.yaml", import.meta.url));

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(["sweep", "--recipe", RECIPE, ...process.argv.slice(2)], {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    isTTY: process.stderr.isTTY === true,
    cwd: process.cwd(),
  });
}
