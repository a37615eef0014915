export { type AtomicFileSink, type AtomicFileSinkOptions, createAtomicFileSink } from "./atomic-file-sink.ts";
export { openFileSource } from "./file-source.ts";
export {
  readSafetensorsFile,
  type WriteSafetensorsFileOptions,
  writeSafetensorsFile,
} from "./safetensors-file.ts";
