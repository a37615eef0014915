// The `mama-prune` executable: wires process streams, the terminal and Ctrl-C to main().
import process from "node:process";
import { main } from "./main.ts";

const controller = new AbortController();
let interrupts = 0;
process.on("SIGINT", () => {
  interrupts++;
  // First Ctrl-C: abort the running step; writers discard their staging files. Second: leave now.
  if (interrupts > 1) process.exit(130);
  controller.abort();
});

const code = await main(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  isTTY: process.stderr.isTTY === true,
  cwd: process.cwd(),
  signal: controller.signal,
  columns: process.stderr.columns ?? 80,
});
process.exitCode = code;
