import { defaultClientConditions, defineConfig } from "vite";

// Cross-origin isolation: SharedArrayBuffer (the wasm backend's shared memory across Web Workers)
// is only available on pages served with these two headers. A static host without them still works:
// the worker falls back to the single-threaded wasm backend and says so on the page.
const isolation = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};

export default defineConfig({
  // Relative asset URLs, so the built page works from any folder of a static host.
  base: "./",
  // The sibling packages resolve to their TypeScript sources (a fresh clone has no dist/).
  resolve: { conditions: ["@mama-prune/source", ...defaultClientConditions] },
  worker: { format: "es" },
  build: { target: "es2022", outDir: "dist", emptyOutDir: true },
  server: { host: "127.0.0.1", headers: isolation },
  preview: { host: "127.0.0.1", headers: isolation },
});
