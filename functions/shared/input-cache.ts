// A pipeline step sends the same input on every call of every XR of its Composition, so each distinct input is
// validated once and the parsed policy reused. The cache is a bounded map in process memory: a pure function's
// result, which no replica needs to agree on.
import type { z } from "zod";
import { inputSourceKey } from "../wire.ts";

const MAX_ENTRIES = 64;

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * `schema.safeParse`, remembered per distinct input: by the bytes it was decoded from when the server decoded it
 * (prefixed, so they never equal a JSON key), else by its JSON. A successful result is deeply frozen, so a
 * handler that changed a shared policy would throw rather than leak the change into the next call. Refusals are
 * not kept: they are rare, and the message is built from the fresh error.
 */
export function cachedSafeParse<S extends z.ZodType>(schema: S, max = MAX_ENTRIES): (input: unknown) => z.ZodSafeParseResult<z.output<S>> {
  const cache = new Map<string, z.ZodSafeParseSuccess<z.output<S>>>();
  return (input) => {
    const source = typeof input === "object" && input !== null ? inputSourceKey(input) : undefined;
    const key = source !== undefined ? `\0${source}` : (JSON.stringify(input) as string | undefined);
    const hit = key === undefined ? undefined : cache.get(key);
    if (hit !== undefined) return hit;
    const parsed = schema.safeParse(input);
    if (!parsed.success || key === undefined) return parsed;
    // A copy is frozen: zod hands out its default values by reference, and those must stay usable elsewhere.
    const kept = { ...parsed, data: deepFreeze(structuredClone(parsed.data)) };
    if (cache.size >= max) cache.delete(cache.keys().next().value as string);
    cache.set(key, kept);
    return kept;
  };
}
