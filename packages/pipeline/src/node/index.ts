export { nodeGarbageCollector } from "./garbage-collector.ts";
export { pruneToCheckpointFolder, writePrunedCheckpointFolder } from "./write-folder.ts";
