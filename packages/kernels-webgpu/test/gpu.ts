import { createNodeGpu, type NodeGpu } from "../src/node/index.ts";

/** A Dawn device for one test file, or undefined when this machine has no adapter (tests skip). */
export async function tryNodeGpu(): Promise<NodeGpu | undefined> {
  try {
    return await createNodeGpu();
  } catch {
    return undefined;
  }
}
