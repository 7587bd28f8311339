/**
 * The memory inspector's view: one MQAR example as a table, one row of tokens per B'MOJO layer,
 * each token coloured by that layer's innovation score and marked when the layer held it in
 * eidetic memory for the chosen chunk; the pairs' roles above, the model's answers below.
 * `memoryTable` is pure (unit-tested); `renderMemory` turns it into DOM.
 */
import { IGNORE_INDEX } from "@bmojo/data";
import type { MemoryInspection } from "./protocol.js";

/**
 * Background colour of a token with innovation `score` on a row whose scores span [min, max]:
 * pale for the lowest, deep orange for the highest. Non-finite scores get no colour.
 */
export function innovationColour(score: number, min: number, max: number): string {
  if (!Number.isFinite(score)) return "transparent";
  const t = max > min ? Math.min(1, Math.max(0, (score - min) / (max - min))) : 0;
  return `hsl(24 ${Math.round(30 + 60 * t)}% ${Math.round(95 - 45 * t)}%)`;
}

export interface TokenCell {
  text: string;
  colour: string;
  /** Held in eidetic memory for the chosen chunk. */
  held: boolean;
  /** Inside the chosen chunk. */
  inChunk: boolean;
  title: string;
}

export interface MemoryTable {
  /** Per position: the first of a chunk after the first (drawn with a separator). */
  chunkStarts: boolean[];
  roles: string[];
  layers: { layer: number; cells: TokenCell[] }[];
  /** At each query: the predicted id and whether it is the target; null elsewhere. */
  answers: ({ text: string; correct: boolean } | null)[];
}

/** The table for `chunk` (0-based; chunk 0 has nothing before it to hold). */
export function memoryTable(inspection: MemoryInspection, chunk: number): MemoryTable {
  const { tokens, window, roles, targets, predictions } = inspection;
  const chunkOf = (p: number) => Math.floor(p / window);
  const layers = inspection.layers.map(({ layer, scores, held }) => {
    const finite = scores.filter(Number.isFinite);
    const min = Math.min(...finite);
    const max = Math.max(...finite);
    const heldHere = new Set(held[chunk] ?? []);
    const cells = tokens.map((id, p): TokenCell => {
      const heldFor = held.flatMap((positions, c) => (positions.includes(p) ? [c + 1] : []));
      const memoryNote =
        heldFor.length === 0
          ? "never in eidetic memory"
          : `in eidetic memory for chunk(s) ${heldFor.join(", ")}`;
      return {
        text: String(id),
        colour: innovationColour(scores[p], min, max),
        held: heldHere.has(p),
        inChunk: chunkOf(p) === chunk,
        title: `position ${p}, token ${id}, innovation ${scores[p].toFixed(3)}; ${memoryNote}`,
      };
    });
    return { layer, cells };
  });
  const answers = targets.map((target, p) =>
    target === IGNORE_INDEX
      ? null
      : { text: String(predictions[p]), correct: predictions[p] === target },
  );
  const chunkStarts = tokens.map((_, p) => p > 0 && p % window === 0);
  return { chunkStarts, roles, layers, answers };
}

function cell(tag: "td" | "th", text: string, className = ""): HTMLTableCellElement {
  const element = document.createElement(tag);
  element.textContent = text;
  if (className !== "") element.className = className;
  return element;
}

/** Replaces `container`'s content with the table of `inspection` for `chunk`. */
export function renderMemory(
  container: HTMLElement,
  inspection: MemoryInspection,
  chunk: number,
): void {
  const table = memoryTable(inspection, chunk);
  const element = document.createElement("table");
  element.className = "memory-table";
  const positions = document.createElement("tr");
  positions.append(cell("th", "position"));
  const roles = document.createElement("tr");
  roles.append(cell("th", "role"));
  const separator = (p: number) => (table.chunkStarts[p] ? " chunk-start" : "");
  for (let p = 0; p < inspection.tokens.length; p++) {
    positions.append(cell("td", String(p), `position${separator(p)}`));
    roles.append(cell("td", table.roles[p], `role${separator(p)}`));
  }
  element.append(positions, roles);
  for (const layer of table.layers) {
    const row = document.createElement("tr");
    row.append(cell("th", `layer ${layer.layer}`));
    layer.cells.forEach((c, p) => {
      const classes = `token${c.held ? " held" : ""}${c.inChunk ? " in-chunk" : ""}${separator(p)}`;
      const td = cell("td", c.text, classes);
      td.style.background = c.colour;
      td.title = c.title;
      row.append(td);
    });
    element.append(row);
  }
  const answers = document.createElement("tr");
  answers.append(cell("th", "answer"));
  table.answers.forEach((answer, p) => {
    answers.append(
      answer === null
        ? cell("td", "", `answer${separator(p)}`)
        : cell("td", answer.text, `answer ${answer.correct ? "correct" : "wrong"}${separator(p)}`),
    );
  });
  element.append(answers);
  container.replaceChildren(element);
}
