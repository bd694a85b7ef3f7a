// Passwords Azure and PostgreSQL accept on the first try: every character class present, no part of the login.
import { randomInt } from "node:crypto";

const UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ";
const LOWER = "abcdefghijkmnopqrstuvwxyz";
const DIGITS = "23456789";
// Symbols that need no quoting in env files, shells or YAML; connection URIs percent-encode the rest anyway.
const SYMBOLS = "-_.~!*+=^";

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

export interface PasswordOptions {
  length: number;
  /** Include symbols (and guarantee one). Without, upper, lower and digits are still each guaranteed. */
  symbols?: boolean;
  /** Logins the password must not contain parts of. */
  avoid?: readonly string[];
}

export function generatePassword({ length, symbols = true, avoid = [] }: PasswordOptions): string {
  const classes = symbols ? [UPPER, LOWER, DIGITS, SYMBOLS] : [UPPER, LOWER, DIGITS];
  const all = classes.join("");
  for (;;) {
    const chars = classes.map(pick);
    while (chars.length < length) chars.push(pick(all));
    for (let i = chars.length - 1; i > 0; i--) {
      const j = randomInt(i + 1);
      [chars[i], chars[j]] = [chars[j] ?? "", chars[i] ?? ""];
    }
    const password = chars.join("");
    if (!avoid.some((login) => containsLoginPart(password, login))) return password;
  }
}

export const PASSWORD_ALPHABET = { upper: UPPER, lower: LOWER, digits: DIGITS, symbols: SYMBOLS };
