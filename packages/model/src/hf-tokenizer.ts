import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { PruneError, truncateForMessage } from "@mama-prune/core";
import type { EncodeOptions, Tokenizer } from "./tokenizer.ts";

function specialTokenContent(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "object" && v !== null && typeof (v as { content?: unknown }).content === "string") {
    return (v as { content: string }).content;
  }
  return undefined;
}

/**
 * Wrap a Hugging Face `tokenizer.json` (plus optional `tokenizer_config.json`) through
 * `@huggingface/tokenizers`. `encode` never lets the tokenizer's post-processor add special tokens:
 * BOS/EOS are added only when asked for, with the ids named by `bos_token` / `eos_token` in the
 * tokenizer config (so perplexity windows control BOS explicitly). `decode` skips special tokens.
 *
 * @param tokenizerJson The parsed `tokenizer.json`.
 * @param tokenizerConfig The parsed `tokenizer_config.json` (for bos_token / eos_token), if any.
 * @throws PruneError TOKENIZER_INVALID when the JSON cannot be loaded or a named BOS/EOS token is
 *   not in the vocabulary.
 * @example
 * const tok = await loadHfTokenizer(await (await fetch(url)).json(), config);
 * tok.decode(tok.encode("Hello world")); // "Hello world"
 */
export async function loadHfTokenizer(
  tokenizerJson: object,
  tokenizerConfig: object = {},
): Promise<Tokenizer> {
  if (typeof tokenizerJson !== "object" || tokenizerJson === null) {
    throw new TypeError("loadHfTokenizer: tokenizerJson must be an object");
  }
  let tok: HfTokenizer;
  try {
    tok = new HfTokenizer(tokenizerJson, tokenizerConfig);
  } catch (e) {
    throw new PruneError(
      "TOKENIZER_INVALID",
      `tokenizer.json: cannot be loaded by @huggingface/tokenizers. Expected a valid tokenizer, got error "${truncateForMessage((e as Error)?.message ?? e, 200)}".`,
      { cause: e },
    );
  }
  const vocabSize = tok.get_vocab(true).size;
  const cfg = tokenizerConfig as Record<string, unknown>;
  const idOf = (key: "bos_token" | "eos_token"): number | undefined => {
    const content = specialTokenContent(cfg[key]);
    if (content === undefined) return undefined;
    const id = tok.token_to_id(content);
    if (id === undefined) {
      throw new PruneError(
        "TOKENIZER_INVALID",
        `tokenizer_config.json: ${key} "${truncateForMessage(content)}" is not in the vocabulary. Expected a known token, got "${truncateForMessage(content)}".`,
      );
    }
    return id;
  };
  const bosId = idOf("bos_token");
  const eosId = idOf("eos_token");
  return {
    vocabSize,
    bosId,
    eosId,
    encode(text: string, options: EncodeOptions = {}): Int32Array {
      if (typeof text !== "string") throw new TypeError("HfTokenizer.encode: text must be a string");
      const ids = tok.encode(text, { add_special_tokens: false }).ids;
      const out: number[] = [];
      if (options.bos) {
        if (bosId === undefined)
          throw new RangeError("HfTokenizer.encode: bos requested but the tokenizer has no bos_token");
        out.push(bosId);
      }
      for (const id of ids) out.push(id);
      if (options.eos) {
        if (eosId === undefined)
          throw new RangeError("HfTokenizer.encode: eos requested but the tokenizer has no eos_token");
        out.push(eosId);
      }
      return Int32Array.from(out);
    },
    decode(ids: ArrayLike<number>): string {
      const list: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!;
        if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
          throw new RangeError(
            `HfTokenizer.decode: id ${i} is ${id}, outside the vocabulary [0, ${vocabSize})`,
          );
        }
        list.push(id);
      }
      return tok.decode(list, { skip_special_tokens: true });
    },
  };
}
