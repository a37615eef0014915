export { openFileSource } from "./file-source.ts";
