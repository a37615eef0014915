export { type AtomicFileSink, type AtomicFileSinkOptions, createAtomicFileSink } from "./atomic-file-sink.ts";
export {
  type CheckpointDirWriterOptions,
  createCheckpointDirWriter,
  openCheckpointDir,
} from "./dir.ts";
export { openFileSource } from "./file-source.ts";
export { openCheckpoint, readHfCheckpointFolder, writeHfCheckpointFolder } from "./hf-folder.ts";
export { readLlama2cFile, readLlama2cTokenizerFile, writeLlama2cFile } from "./llama2c.ts";
export {
  inspectSafetensorsFile,
  readSafetensorsFile,
  type WriteSafetensorsFileOptions,
  writeSafetensorsFile,
} from "./safetensors-file.ts";
