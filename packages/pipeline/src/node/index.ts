export { writePrunedCheckpointFolder } from "./write-folder.ts";
