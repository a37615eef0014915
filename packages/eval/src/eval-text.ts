import { PruneError } from "@mama-prune/core";

/** How an evaluation text is laid out on disk. */
export type EvalTextFormat = "plain" | "wikitext";

/** Options of {@link loadEvalText}. */
export interface LoadEvalTextOptions {
  /**
   * `plain`: the text is used exactly as given. `wikitext`: the text is a raw WikiText file
   * (`wiki.test.raw`) or an array of its Hugging Face dataset rows, rebuilt into the exact string the
   * pruning anchors evaluate: rows joined with "\n\n".
   */
  readonly format: EvalTextFormat;
}

/**
 * Split a raw WikiText file into the rows the Hugging Face `wikitext` loader script yields
 * (`for row in open(file): yield row if row.strip() else ""`): one row per line
 * with its "\n" kept (Python text-mode iteration, so "\r\n" and "\r" read as "\n"), and a
 * whitespace-only line becoming the empty string.
 */
function wikitextRows(raw: string): string[] {
  const normalized = raw.replace(/\r\n?/g, "\n");
  const rows: string[] = [];
  let start = 0;
  while (start < normalized.length) {
    const nl = normalized.indexOf("\n", start);
    const end = nl === -1 ? normalized.length : nl + 1;
    const line = normalized.slice(start, end);
    rows.push(line.trim() === "" ? "" : line);
    start = end;
  }
  return rows;
}

/**
 * Turn an evaluation text into the exact string that is tokenized as one stream by `perplexity`.
 *
 * - `plain`: returned unchanged.
 * - `wikitext`: WikiText-style documents joined with "\n\n", exactly like the anchors'
 *   `"\n\n".join(load_dataset("wikitext", "wikitext-2-raw-v1", split="test")["text"])`. Give either
 *   the raw file's text (it is split into the loader's rows first: one per line, newline kept,
 *   blank lines as "") or the rows themselves as an array.
 *
 * @param text the raw text, or (wikitext only) the dataset rows.
 * @throws PruneError EVAL_INVALID when the text is empty or only whitespace.
 * @throws TypeError when `format` is not "plain" or "wikitext", or an array is given for "plain".
 * @example
 * loadEvalText(" = A = \n \n Body . \n", { format: "wikitext" }); // " = A = \n\n\n\n\n Body . \n"
 */
export function loadEvalText(text: string | readonly string[], options: LoadEvalTextOptions): string {
  const format = (options as { format?: unknown } | undefined)?.format;
  let out: string;
  if (format === "plain") {
    if (typeof text !== "string") {
      throw new TypeError(`loadEvalText: format "plain" takes a string, got ${typeof text}`);
    }
    out = text;
  } else if (format === "wikitext") {
    const rows = typeof text === "string" ? wikitextRows(text) : text;
    for (const [i, row] of rows.entries()) {
      if (typeof row !== "string") throw new TypeError(`loadEvalText: row ${i} is not a string`);
    }
    out = rows.join("\n\n");
  } else {
    throw new TypeError(`loadEvalText: options.format must be "plain" or "wikitext", got ${String(format)}`);
  }
  if (out.trim().length === 0) {
    throw new PruneError(
      "EVAL_INVALID",
      `loadEvalText: evaluation text is ${out.length === 0 ? "empty" : "only whitespace"}. Expected some text, got ${out.length} characters.`,
    );
  }
  return out;
}
