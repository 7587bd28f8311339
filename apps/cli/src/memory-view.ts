/**
 * Showing what B'MOJO's eidetic memory held: the positions a forward pass selected for one chunk
 * (`model.lastSelections()`), and how a held token is marked in printed input.
 */
import type { ChunkSelection } from "@bmojo/model";

/** The input positions held for `chunk` of batch element `sequence`, ascending (empty slots dropped). */
export function heldPositions(selection: ChunkSelection, chunk: number, sequence = 0): number[] {
  return selection.positions[sequence][chunk].filter((p) => p >= 0).sort((a, b) => a - b);
}

/** A held token as printed: `[text]`, or underlined (ANSI) on a terminal. */
export function markHeld(text: string, underline: boolean): string {
  return underline ? `\x1b[4m${text}\x1b[24m` : `[${text}]`;
}
