// The `mama-prune` executable: wires process streams, the terminal and Ctrl-C to main().
import process from "node:process";
import { main } from "./main.ts";

const controller = new AbortController();
let firstInterruptMs: number | undefined;
process.on("SIGINT", () => {
  // First Ctrl-C: abort the running step; writers discard their staging files and main() exits 130.
  // Every long loop yields to the event loop at least every 50 ms, so this lands within one such
  // stretch. A terminal delivers Ctrl-C to the whole process group, and launchers such as tsx or
  // npm relay it once more within milliseconds, so repeats within 300 ms count as the same Ctrl-C.
  // A later one (a user pressing again) leaves at once.
  const now = performance.now();
  if (firstInterruptMs === undefined) {
    firstInterruptMs = now;
    controller.abort();
  } else if (now - firstInterruptMs > 300) {
    process.exit(130);
  }
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
