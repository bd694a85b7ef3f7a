// Admin passwords Azure accepts on the first try: every character class present, no part of the login.
import { randomInt } from "node:crypto";

const UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ";
const LOWER = "abcdefghijkmnopqrstuvwxyz";
const DIGITS = "23456789";
// Symbols that need no quoting in env files, shells or YAML; the URI key percent-encodes the rest anyway.
const SYMBOLS = "-_.~!*+=^";
const CLASSES = [UPPER, LOWER, DIGITS, SYMBOLS];
const ALL = CLASSES.join("");

/** A uniform pick: node's randomInt draws from the CSPRNG with rejection sampling, so there is no modulo bias. */
function pick(alphabet: string): string {
  return alphabet[randomInt(alphabet.length)] ?? "";
}

/** Azure refuses a password that contains 3 or more consecutive alphanumerics of the login. */
export function containsLoginPart(password: string, login: string): boolean {
  const p = password.toLowerCase();
  for (const run of login.toLowerCase().split(/[^a-z0-9]+/)) {
    for (let i = 0; i + 3 <= run.length; i++) {
      if (p.includes(run.slice(i, i + 3))) return true;
    }
  }
  return false;
}

export function generatePassword(length: number, login: string): string {
  for (;;) {
    const chars = CLASSES.map(pick);
    while (chars.length < length) chars.push(pick(ALL));
    for (let i = chars.length - 1; i > 0; i--) {
      const j = randomInt(i + 1);
      [chars[i], chars[j]] = [chars[j] ?? "", chars[i] ?? ""];
    }
    const password = chars.join("");
    if (!containsLoginPart(password, login)) return password;
  }
}

export const PASSWORD_ALPHABET = { upper: UPPER, lower: LOWER, digits: DIGITS, symbols: SYMBOLS };
