// The leak check: no known value, in any of its encodings, in any text the product wrote or answered. It runs once
// everything is in: a value can become known (seen in a Secret) after a log line already carried it.
import { encodings, type ValueBook } from "./values.ts";

export interface TextSource {
  name: string;
  lines: readonly string[];
}

export interface Leak {
  source: string;
  value: string;
  /** The line, with every known value replaced by its label. */
  line: string;
}

const LINE_LIMIT = 300;

export function findLeaks(book: ValueBook, sources: readonly TextSource[]): Leak[] {
  const forms = book.known().flatMap(({ value, label }) => encodings(value).map((form) => ({ form, label })));
  const leaks: Leak[] = [];
  for (const source of sources) {
    for (const line of source.lines) {
      const found = forms.find(({ form }) => line.includes(form));
      if (found !== undefined) leaks.push({ source: source.name, value: found.label, line: book.redact(line).slice(0, LINE_LIMIT) });
    }
  }
  return leaks;
}
