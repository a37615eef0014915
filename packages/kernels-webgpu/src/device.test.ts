import { isPruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { requestGpuDevice } from "./device.ts";

describe("requestGpuDevice", () => {
  it("throws GPU_UNAVAILABLE with install instructions when there is no adapter", async () => {
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    let err: unknown;
    try {
      await requestGpuDevice(noAdapter);
    } catch (e) {
      err = e;
    }
    expect(isPruneError(err, "GPU_UNAVAILABLE")).toBe(true);
    expect(String(err)).toContain("apt-get install -y chromium libvulkan1");
    expect(String(err)).toContain("VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json");
  });

  it("throws GPU_UNAVAILABLE when the runtime has no WebGPU at all", async () => {
    await expect(requestGpuDevice(undefined as unknown as GPU)).rejects.toMatchObject({
      code: "GPU_UNAVAILABLE",
    });
  });
});
