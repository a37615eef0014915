export {
  type DecodeTextBytesOptions,
  decodeTextBytes,
  type EvalTextFormat,
  type LoadEvalTextOptions,
  loadEvalText,
} from "./eval-text.ts";
export {
  cachingTokenizer,
  cutWindows,
  type PerplexityModel,
  type PerplexityOptions,
  type PerplexityResult,
  type PerplexityTokenizer,
  type PerplexityWindows,
  perplexity,
} from "./perplexity.ts";
export { formatTick, logTicks, type PerplexityPlotOptions, perplexityPlotSvg } from "./plot.ts";
export {
  type ReportAggregate,
  type ReportCsvOptions,
  type ReportJson,
  type ReportMarkdownOptions,
  type ReportPoint,
  type ReportTable,
  type ReportTableFromPointsOptions,
  reportCsv,
  reportJson,
  reportJsonObject,
  reportMarkdown,
  reportTableFromPoints,
} from "./report.ts";
