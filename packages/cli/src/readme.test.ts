// The README's recipe reference must stay true: its full example recipe validates.
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { parseRecipe } from "./recipe.ts";

describe("README", () => {
  it("has a full example recipe that parses and validates", async () => {
    const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
    const yaml = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(yaml).toBeDefined();
    const r = parseRecipe(yaml!, "README.yaml");
    expect(r.methods).toHaveLength(6);
    expect(r.levels).toHaveLength(12);
    expect(r.plugins?.[0]?.options).toEqual({ power: 0.5 });
  });
});
