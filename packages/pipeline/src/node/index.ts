export { pruneToCheckpointFolder, writePrunedCheckpointFolder } from "./write-folder.ts";
