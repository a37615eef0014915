import { sharedProject } from "../../tools/vitest.shared.ts";

export default sharedProject;
