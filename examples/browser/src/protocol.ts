// Messages between the page and its Web Worker (structured-cloneable: Files, plain objects, bytes).
import type { PickedFile } from "./inputs.ts";
import type { JobProgress, JobResult, JobSettings } from "./job.ts";

/** Which compute backend the worker should use: "auto" = WebGPU when an adapter exists, else wasm. */
export type BackendChoice = "auto" | "webgpu" | "wasm" | "js";

export type ModelInput =
  | { readonly kind: "bundled" }
  | { readonly kind: "files"; readonly name: string; readonly files: readonly PickedFile[] };

export type TextInput = { readonly kind: "bundled" } | { readonly kind: "file"; readonly file: File };

/** Page → worker. */
export interface RunRequest {
  readonly type: "run";
  readonly model: ModelInput;
  readonly text: TextInput;
  readonly settings: JobSettings;
  readonly backend: BackendChoice;
}

/** Worker → page. */
export type WorkerMessage =
  | { readonly type: "backend"; readonly name: string; readonly note: string }
  | { readonly type: "progress"; readonly progress: JobProgress }
  | { readonly type: "result"; readonly result: JobResult }
  | { readonly type: "error"; readonly message: string; readonly code?: string };
