export { type WriteParamsFolderOptions, writeParamsFolder } from "./checkpoint.ts";
