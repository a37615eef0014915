/** The CLI's version (kept equal to package.json by the release tooling). */
export const CLI_VERSION = "0.1.0";
