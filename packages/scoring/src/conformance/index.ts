export {
  CONFORMANCE_CHECKS,
  type ConformanceCheck,
  type ConformanceCheckId,
  type ConformanceOptions,
  scorerConformance,
} from "./conformance.ts";
export {
  CONFORMANCE_SHAPES,
  type ConformanceInputs,
  type ConformanceInputsOverride,
  makeConformanceInputs,
} from "./fixtures.ts";
