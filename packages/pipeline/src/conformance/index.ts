export {
  METHOD_CONFORMANCE_CHECKS,
  type MethodConformanceCheck,
  type MethodConformanceCheckId,
  type MethodConformanceOptions,
  methodConformance,
} from "./method-conformance.ts";
