export { type EvalTextFormat, type LoadEvalTextOptions, loadEvalText } from "./eval-text.ts";
export {
  cutWindows,
  type PerplexityModel,
  type PerplexityOptions,
  type PerplexityResult,
  type PerplexityTokenizer,
  type PerplexityWindows,
  perplexity,
} from "./perplexity.ts";
