/** A data file of this package: its path inside the package and its size and checksum. */
export interface TestdataFile {
  /** Path relative to the package root, e.g. `data/stories260K/tok512.bin`. */
  readonly path: string;
  /** Size in bytes. */
  readonly bytes: number;
  /** SHA-256 of the contents, lowercase hex. */
  readonly sha256: string;
}

/** Karpathy's stories260K (llama2.c checkpoint, dim 64, 5 layers, vocab 512, seq_len 512). MIT. */
export const STORIES260K: TestdataFile = {
  path: "data/stories260K/stories260K.bin",
  bytes: 1_056_540,
  sha256: "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696",
};

/** Its 512-token llama2.c tokenizer (`tokenizer.bin` format; pass vocab size 512 to the reader). MIT. */
export const TOK512: TestdataFile = {
  path: "data/stories260K/tok512.bin",
  bytes: 6_227,
  sha256: "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312",
};

/** The first 475 paragraphs ("\n\n"-separated) of the TinyStories validation split. CDLA-Sharing-1.0. */
export const TINYSTORIES_SAMPLE: TestdataFile = {
  path: "data/tinystories/tinystories_sample.txt",
  bytes: 99_665,
  sha256: "50a24f0095f10cc24b6ee6aed4baef04e6a818105d831c67bb2f810b364836a6",
};

/** Vocabulary size of {@link TOK512} (the llama2.c tokenizer file does not store it). */
export const TOK512_VOCAB_SIZE = 512;
