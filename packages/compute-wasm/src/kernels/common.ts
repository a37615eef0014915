// Helpers shared by the kernel generators.

/** Concatenate instruction byte lists. */
export const cat = (...parts: number[][]): number[] => parts.flat();

/** Shuffle moving lanes 2, 3 (bytes 8..15) of an f32x4 into lanes 0, 1. */
export const HIGH_HALF = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15] as const;
