// Node entry: onnxruntime-node (an optional peer dependency, an N-API addon) + the wasm backend.
export {
  createNativeBackend,
  loadOnnxRuntime,
  type NativeBackendNodeOptions,
  ONNXRUNTIME_NODE_VERSION,
} from "./native-node.ts";
