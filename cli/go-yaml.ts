// YAML as `crossplane render` prints it (the Kubernetes JSON serializer, then sigs.k8s.io/yaml, then go-yaml v2's
// emitter), so our render's output and the real one's compare line by line with diff. Keys in go-yaml's order, block
// style with sequences not indented under their key, go-yaml's choice of plain, single-quoted, double-quoted or
// literal scalars, and its line folding past column 80. Transcribed from go.yaml.in/yaml/v2 v2.4.4 (emitterc.go,
// encode.go, resolve.go, sorter.go) for JSON values only: no anchors, tags, flow style or document markers.
// Not reproduced: a raw U+0085 (NEL) in a string, which the real one's round trip through YAML folds into a space,
// and the order of keys such as "a01" and "a1", which go-yaml's comparison leaves to chance.

type Json = null | boolean | number | string | Array<Json | undefined> | { [key: string]: Json | undefined };

const BEST_INDENT = 2;
const BEST_WIDTH = 80;
const MAX_SIMPLE_KEY_BYTES = 128;

const isBreak = (c: string | undefined) => c === "\r" || c === "\n" || c === "\u0085" || c === "\u2028" || c === "\u2029";
const isBlank = (c: string | undefined) => c === " " || c === "\t";
const isBlankOrBreak = (c: string | undefined) => c === undefined || isBlank(c) || isBreak(c);
function isPrintable(c: string): boolean {
  const p = c.codePointAt(0) ?? 0;
  return p === 0x0a || (p >= 0x20 && p <= 0x7e) || (p >= 0xa0 && p <= 0xd7ff) || (p >= 0xe000 && p <= 0xfffd && p !== 0xfeff);
}

// resolve.go: what a plain scalar would read back as. A string that would not read back as a string is quoted.
const RESOLVED = new Set(["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "", "~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF"]);
const YAML_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const BASE_60_FLOAT = /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/;
// strconv.ParseInt/ParseUint with base 0 (after go-yaml drops underscores), and go-yaml's own 0b forms.
const GO_INT = /^[-+]?(0[xX][0-9a-fA-F]+|0([oO][0-7]+|[0-7]*)|0[bB][01]+|[1-9][0-9]*)$/;
const TIMESTAMP = [
  /^(\d{4})-(\d{1,2})-(\d{1,2})[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/,
  /^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d+)?$/,
  /^(\d{4})-(\d{1,2})-(\d{1,2})$/,
];
function isTimestamp(s: string): boolean {
  for (const re of TIMESTAMP) {
    const m = re.exec(s);
    if (m === null) continue;
    const [month, day, hour = 0, minute = 0, second = 0] = m.slice(2, 7).map((v) => (v === undefined ? undefined : Number(v)));
    if (month !== undefined && day !== undefined && month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour < 24 && minute < 60 && second < 60) return true;
  }
  return false;
}
function readsAsString(s: string): boolean {
  if (RESOLVED.has(s)) return false;
  const hint = s[0] ?? "";
  if (hint === ".") return !/^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(s);
  if (!/^[-+0-9]/.test(hint)) return true;
  if (isTimestamp(s)) return false;
  const plain = s.replaceAll("_", "");
  return !(GO_INT.test(plain) || YAML_FLOAT.test(plain) || /^-0b[01]+$/.test(plain));
}

/** sorter.go: letters after other characters, runs of digits by their value. */
function keyLess(a: string, b: string): boolean {
  const ar = Array.from(a);
  const br = Array.from(b);
  const letter = (c: string) => /\p{L}/u.test(c);
  const digit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";
  for (let i = 0; i < ar.length && i < br.length; i++) {
    const x = ar[i] as string;
    const y = br[i] as string;
    if (x === y) continue;
    if (letter(x) && letter(y)) return x < y;
    if (letter(x) || letter(y)) return letter(y);
    let an = 0;
    let bn = 0;
    if (x === "0" || y === "0") {
      for (let j = i - 1; j >= 0 && digit(ar[j]); j--) {
        if (ar[j] !== "0") {
          an = 1;
          bn = 1;
          break;
        }
      }
    }
    let ai = i;
    let bi = i;
    for (; ai < ar.length && digit(ar[ai]); ai++) an = an * 10 + Number(ar[ai]);
    for (; bi < br.length && digit(br[bi]); bi++) bn = bn * 10 + Number(br[bi]);
    if (an !== bn) return an < bn;
    if (ai !== bi) return ai < bi;
    return x < y;
  }
  return ar.length < br.length;
}

/** strconv.FormatFloat(f, 'g', -1, 64) for what is not an integer; integers arrive from JSON as ints. */
function formatNumber(n: number): string {
  if (Number.isNaN(n)) return ".nan";
  if (!Number.isFinite(n)) return n > 0 ? ".inf" : "-.inf";
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return String(n);
  const [mantissa = "", exponent = "0"] = n.toExponential().split("e");
  const exp = Number(exponent);
  if (exp < -4 || exp >= 6) return `${mantissa}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  return String(n);
}

type Style = "plain" | "single" | "double" | "literal";

interface Analysis {
  multiline: boolean;
  blockPlainAllowed: boolean;
  singleQuotedAllowed: boolean;
  blockAllowed: boolean;
}

/** yaml_emitter_analyze_scalar, for block context. */
function analyze(chars: string[]): Analysis {
  if (chars.length === 0) return { multiline: false, blockPlainAllowed: true, singleQuotedAllowed: true, blockAllowed: false };
  let blockIndicators = false;
  let lineBreaks = false;
  let special = false;
  let leadingSpace = false;
  let leadingBreak = false;
  let trailingSpace = false;
  let trailingBreak = false;
  let breakSpace = false;
  let spaceBreak = false;
  let previousSpace = false;
  let previousBreak = false;
  const head = chars.slice(0, 3).join("");
  if (head === "---" || head === "...") blockIndicators = true;
  let precededByWhitespace = true;
  chars.forEach((c, i) => {
    const followedByWhitespace = i + 1 >= chars.length || isBlank(chars[i + 1]);
    if (i === 0) {
      if ("#,[]{}&*!|>'\"%@`".includes(c)) blockIndicators = true;
      else if ((c === "?" || c === ":" || c === "-") && followedByWhitespace) blockIndicators = true;
    } else if ((c === ":" && followedByWhitespace) || (c === "#" && precededByWhitespace)) blockIndicators = true;
    if (!isPrintable(c)) special = true;
    if (c === " ") {
      if (i === 0) leadingSpace = true;
      if (i === chars.length - 1) trailingSpace = true;
      if (previousBreak) breakSpace = true;
      previousSpace = true;
      previousBreak = false;
    } else if (isBreak(c)) {
      lineBreaks = true;
      if (i === 0) leadingBreak = true;
      if (i === chars.length - 1) trailingBreak = true;
      if (previousSpace) spaceBreak = true;
      previousSpace = false;
      previousBreak = true;
    } else {
      previousSpace = false;
      previousBreak = false;
    }
    precededByWhitespace = isBlankOrBreak(c);
  });
  let blockPlainAllowed = !(leadingSpace || leadingBreak || trailingSpace || trailingBreak || breakSpace || lineBreaks || blockIndicators);
  let singleQuotedAllowed = !breakSpace;
  let blockAllowed = !trailingSpace;
  if (spaceBreak || special) blockPlainAllowed = singleQuotedAllowed = blockAllowed = false;
  return { multiline: lineBreaks, blockPlainAllowed, singleQuotedAllowed, blockAllowed };
}

class Emitter {
  out = "";
  column = 0;
  whitespace = true;
  indention = true;
  indent = -1;
  private readonly indents: number[] = [];

  private put(s: string): void {
    this.out += s;
    this.column += 1;
  }
  private putBreak(): void {
    this.out += "\n";
    this.column = 0;
  }
  /** A line break of the value: \n as such, any other (\r, U+2028 ...) written raw, and a new line begins. */
  private writeBreak(c: string): void {
    if (c === "\n") return this.putBreak();
    this.out += c;
    this.column = 0;
  }
  private increaseIndent(flow: boolean, indentless: boolean): void {
    this.indents.push(this.indent);
    if (this.indent < 0) this.indent = flow ? BEST_INDENT : 0;
    else if (!indentless) this.indent += BEST_INDENT;
  }
  private popIndent(): void {
    this.indent = this.indents.pop() ?? -1;
  }
  writeIndent(): void {
    const indent = Math.max(this.indent, 0);
    if (!this.indention || this.column > indent || (this.column === indent && !this.whitespace)) this.putBreak();
    while (this.column < indent) this.put(" ");
    this.whitespace = true;
    this.indention = true;
  }
  private writeIndicator(indicator: string, needWhitespace: boolean, isWhitespace: boolean, isIndention: boolean): void {
    if (needWhitespace && !this.whitespace) this.put(" ");
    for (const c of indicator) this.put(c);
    this.whitespace = isWhitespace;
    this.indention = this.indention && isIndention;
  }

  node(value: Json, ctx: { mapping: boolean; simpleKey: boolean }): void {
    if (Array.isArray(value)) return value.length === 0 ? this.emptyFlow("[", "]") : this.sequence(value, ctx.mapping);
    if (value !== null && typeof value === "object") {
      // As in JSON, a key whose value is undefined is left out.
      const keys = Object.keys(value)
        .filter((k) => value[k] !== undefined)
        .sort((a, b) => (keyLess(a, b) ? -1 : keyLess(b, a) ? 1 : 0));
      return keys.length === 0 ? this.emptyFlow("{", "}") : this.mapping(value, keys);
    }
    if (typeof value === "string") {
      const plain = readsAsString(value) && !BASE_60_FLOAT.test(value);
      return this.scalar(value, value.includes("\n") ? "literal" : plain ? "plain" : "double", ctx.simpleKey);
    }
    this.scalar(typeof value === "number" ? formatNumber(value) : String(value), "plain", ctx.simpleKey);
  }

  private emptyFlow(open: string, close: string): void {
    this.writeIndicator(open, true, true, false);
    this.increaseIndent(true, false);
    this.popIndent();
    this.writeIndicator(close, false, false, false);
  }

  private sequence(items: Array<Json | undefined>, inMapping: boolean): void {
    this.increaseIndent(false, inMapping && !this.indention);
    for (const item of items) {
      this.writeIndent();
      this.writeIndicator("-", true, false, true);
      this.node(item ?? null, { mapping: false, simpleKey: false });
    }
    this.popIndent();
  }

  private mapping(value: { [key: string]: Json | undefined }, keys: string[]): void {
    this.increaseIndent(false, false);
    for (const key of keys) {
      this.writeIndent();
      if (!key.includes("\n") && !Array.from(key).some(isBreak) && Buffer.byteLength(key) <= MAX_SIMPLE_KEY_BYTES) {
        this.node(key, { mapping: false, simpleKey: true });
        this.writeIndicator(":", false, false, false);
      } else {
        this.writeIndicator("?", true, false, true);
        this.node(key, { mapping: true, simpleKey: false });
        this.writeIndent();
        this.writeIndicator(":", true, false, true);
      }
      this.node(value[key] ?? null, { mapping: true, simpleKey: false });
    }
    this.popIndent();
  }

  /** yaml_emitter_select_scalar_style, then the writer of that style. */
  private scalar(value: string, wanted: Style, simpleKey: boolean): void {
    const chars = Array.from(value);
    const a = analyze(chars);
    let style = wanted;
    if (simpleKey && a.multiline) style = "double";
    if (style === "plain" && (!a.blockPlainAllowed || (chars.length === 0 && simpleKey))) style = "single";
    if (style === "single" && !a.singleQuotedAllowed) style = "double";
    if (style === "literal" && (!a.blockAllowed || simpleKey)) style = "double";
    this.increaseIndent(true, false);
    const allowBreaks = !simpleKey;
    if (style === "plain" || style === "single") this.folded(chars, allowBreaks, style === "single");
    else if (style === "double") this.doubleQuoted(chars, allowBreaks);
    else this.literal(chars);
    this.popIndent();
  }

  /** A plain or single-quoted scalar: a space past column 80 becomes a line break; line breaks are kept. */
  private folded(chars: string[], allowBreaks: boolean, quoted: boolean): void {
    if (quoted) this.writeIndicator("'", true, false, false);
    else if (!this.whitespace) this.put(" ");
    let spaces = false;
    let breaks = false;
    chars.forEach((c, i) => {
      if (c === " ") {
        const inside = !quoted || (i > 0 && i < chars.length - 1);
        if (allowBreaks && inside && !spaces && this.column > BEST_WIDTH && chars[i + 1] !== " ") this.writeIndent();
        else this.put(c);
        spaces = true;
      } else if (isBreak(c)) {
        if (!breaks && c === "\n") this.putBreak();
        this.writeBreak(c);
        this.indention = true;
        breaks = true;
      } else {
        if (breaks) this.writeIndent();
        if (quoted && c === "'") this.put("'");
        this.put(c);
        this.indention = false;
        spaces = false;
        breaks = false;
      }
    });
    if (quoted) this.writeIndicator("'", false, false, false);
    this.whitespace = false;
    this.indention = false;
  }

  private doubleQuoted(chars: string[], allowBreaks: boolean): void {
    const ESCAPES: Record<number, string> = { 0x00: "0", 0x07: "a", 0x08: "b", 0x09: "t", 0x0a: "n", 0x0b: "v", 0x0c: "f", 0x0d: "r", 0x1b: "e", 0x22: '"', 0x5c: "\\", 0x85: "N", 0xa0: "_", 0x2028: "L", 0x2029: "P" };
    this.writeIndicator('"', true, false, false);
    let spaces = false;
    chars.forEach((c, i) => {
      const p = c.codePointAt(0) ?? 0;
      if (!isPrintable(c) || p === 0xfeff || isBreak(c) || c === '"' || c === "\\") {
        const short = ESCAPES[p];
        const width = p <= 0xff ? 2 : p <= 0xffff ? 4 : 8;
        const escaped = short ?? `${width === 2 ? "x" : width === 4 ? "u" : "U"}${p.toString(16).toUpperCase().padStart(width, "0")}`;
        for (const e of `\\${escaped}`) this.put(e);
        spaces = false;
      } else if (c === " ") {
        if (allowBreaks && !spaces && this.column > BEST_WIDTH && i > 0 && i < chars.length - 1) {
          this.writeIndent();
          if (chars[i + 1] === " ") this.put("\\");
        } else this.put(c);
        spaces = true;
      } else {
        this.put(c);
        spaces = false;
      }
    });
    this.writeIndicator('"', false, false, false);
    this.whitespace = false;
    this.indention = false;
  }

  private literal(chars: string[]): void {
    this.writeIndicator("|", true, false, false);
    if (chars[0] === " " || isBreak(chars[0])) this.writeIndicator(String(BEST_INDENT), false, false, false);
    const last = chars.length - 1;
    const chomp = !isBreak(chars[last]) ? "-" : last === 0 || isBreak(chars[last - 1]) ? "+" : "";
    if (chomp !== "") this.writeIndicator(chomp, false, false, false);
    this.putBreak();
    this.indention = true;
    this.whitespace = true;
    let breaks = true;
    for (const c of chars) {
      if (isBreak(c)) {
        this.writeBreak(c);
        this.indention = true;
        breaks = true;
      } else {
        if (breaks) this.writeIndent();
        this.put(c);
        this.indention = false;
        breaks = false;
      }
    }
  }
}

/** One document as go-yaml v2 marshals it (no `---`), ending with a newline. */
export function goYaml(value: Json): string {
  const e = new Emitter();
  e.node(value, { mapping: false, simpleKey: false });
  e.writeIndent();
  return e.out;
}
