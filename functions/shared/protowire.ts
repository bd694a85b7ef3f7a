// The protocol-buffers wire format, just what the server's hand-written codecs need: a reader over one Buffer and a
// writer into one growing Buffer. Written here because the generated code the SDK ships allocates a wrapper object
// per value and a chunk per nested message, which made encoding and decoding most of a call's CPU time.

export class WireError extends Error {}

/** Wire types (the low three bits of a tag). */
export const Wire = { Varint: 0, Fixed64: 1, Bytes: 2, StartGroup: 3, EndGroup: 4, Fixed32: 5 } as const;

/** Strings shorter than this are decoded byte by byte when they are ASCII; a native call costs more for them. */
const SHORT_STRING = 32;
/** Object keys up to this many bytes are kept in a table of this many slots (see Reader.key). */
const MAX_CACHED_KEY = 40;
const KEY_SLOTS = 4096;
const keyTable: (string | undefined)[] = new Array<string | undefined>(KEY_SLOTS).fill(undefined);
/** Unknown groups (a proto2 encoding nobody sends here) are skipped down to this depth. */
const MAX_GROUP_DEPTH = 100;

export class Reader {
  readonly buf: Buffer;
  pos = 0;

  constructor(buf: Buffer) {
    this.buf = buf;
  }

  /** A varint's low 32 bits, unsigned: tags, lengths, enums (which may be sent as 10-byte negative numbers). */
  uint32(): number {
    const buf = this.buf;
    let n = 0;
    let shift = 0;
    let b: number;
    do {
      if (this.pos >= buf.length) throw new WireError("truncated message: a varint runs past the end");
      b = buf[this.pos++] as number;
      if (shift < 32) n |= (b & 0x7f) << shift;
      shift += 7;
      if (shift > 70) throw new WireError("malformed message: a varint is longer than 10 bytes");
    } while (b >= 0x80);
    return n >>> 0;
  }

  int32(): number {
    return this.uint32() | 0;
  }

  /** A bool is true when any bit of its varint is set, however long the varint. */
  bool(): boolean {
    const buf = this.buf;
    let any = false;
    let b: number;
    let n = 0;
    do {
      if (this.pos >= buf.length) throw new WireError("truncated message: a varint runs past the end");
      if (++n > 10) throw new WireError("malformed message: a varint is longer than 10 bytes");
      b = buf[this.pos++] as number;
      if ((b & 0x7f) !== 0) any = true;
    } while (b >= 0x80);
    return any;
  }

  /** Ends a nested message: a varint or fixed field read past its end means the message is malformed. */
  close(end: number): void {
    if (this.pos > end) throw new WireError("malformed message: a field runs past the end of its message");
  }

  /** Reads a length prefix and returns where the field's bytes end. */
  end(limit: number): number {
    const len = this.uint32();
    const end = this.pos + len;
    if (end > limit) throw new WireError("truncated message: a field runs past the end of its message");
    return end;
  }

  string(end: number): string {
    const buf = this.buf;
    const start = this.pos;
    this.pos = end;
    if (end - start < SHORT_STRING) {
      let s = "";
      for (let p = start; p < end; p++) {
        const b = buf[p] as number;
        if (b >= 0x80) return buf.toString("utf8", start, end);
        s += String.fromCharCode(b);
      }
      return s;
    }
    return buf.toString("utf8", start, end);
  }

  /**
   * A string used as an object key: the same few hundred field names come in every call, so short ASCII ones are
   * looked up in a table and the string made (and made a property key by V8) the first time is handed out again.
   * Only keys: a value may be a secret, which must not outlive the call in a table.
   */
  key(end: number): string {
    const buf = this.buf;
    const start = this.pos;
    const len = end - start;
    if (len > MAX_CACHED_KEY) return this.string(end);
    let h = len;
    for (let p = start; p < end; p++) {
      const b = buf[p] as number;
      if (b >= 0x80) return this.string(end);
      h = Math.imul(h ^ b, 0x01000193);
    }
    const slot = (h ^ (h >>> 15)) & (KEY_SLOTS - 1);
    const cached = keyTable[slot];
    if (cached !== undefined && cached.length === len) {
      let same = true;
      for (let i = 0; i < len; i++) {
        if (cached.charCodeAt(i) !== buf[start + i]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.pos = end;
        return cached;
      }
    }
    const s = this.string(end);
    keyTable[slot] = s;
    return s;
  }

  /** A copy: the request's buffer is not ours to keep. */
  bytes(end: number): Buffer {
    const out = Buffer.from(this.buf.subarray(this.pos, end));
    this.pos = end;
    return out;
  }

  double(limit: number): number {
    if (this.pos + 8 > limit) throw new WireError("truncated message: a double runs past the end");
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Skips a field this codec does not read, as proto3 requires of unknown fields. */
  skip(tag: number, limit: number, depth = 0): void {
    if (tag >>> 3 === 0) throw new WireError("malformed message: field number 0 is not valid");
    switch (tag & 7) {
      case Wire.Varint:
        this.uint32();
        return;
      case Wire.Fixed64:
        this.pos += 8;
        break;
      case Wire.Bytes:
        this.pos = this.end(limit);
        return;
      case Wire.Fixed32:
        this.pos += 4;
        break;
      case Wire.StartGroup: {
        if (depth >= MAX_GROUP_DEPTH) throw new WireError(`malformed message: groups nest deeper than ${MAX_GROUP_DEPTH} levels`);
        for (;;) {
          if (this.pos >= limit) throw new WireError("truncated message: a group has no end");
          const inner = this.uint32();
          if ((inner & 7) === Wire.EndGroup) {
            if (inner >>> 3 !== tag >>> 3) throw new WireError("malformed message: a group ends with another field's number");
            return;
          }
          this.skip(inner, limit, depth + 1);
        }
      }
      default:
        throw new WireError(`malformed message: wire type ${tag & 7} of field ${tag >>> 3} is not valid here`);
    }
    if (this.pos > limit) throw new WireError("truncated message: a field runs past the end of its message");
  }
}

/** A writer is reused (encoding is synchronous, and `finish()` hands out a copy); one grown past this by a very
 * large message starts small again, so it does not hold the memory. */
const KEEP_BYTES = 1024 * 1024;

export class Writer {
  buf: Buffer;
  pos = 0;
  private readonly initial: number;

  constructor(size = 64 * 1024) {
    this.initial = size;
    this.buf = Buffer.allocUnsafe(size);
  }

  /** The bytes written so far, in a Buffer of their own. */
  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }

  /**
   * Forgets what was written, zeroing it: a response may hold a secret (a Database's connection Secret), which must
   * not stay in a buffer that outlives the call. A writer grown past KEEP_BYTES starts small again.
   */
  clear(): void {
    this.buf.fill(0, 0, this.pos);
    this.pos = 0;
    if (this.buf.length > KEEP_BYTES) this.buf = Buffer.allocUnsafe(this.initial);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf.fill(0, 0, this.pos);
    this.buf = next;
  }

  /** A non-negative integer below 2^53 (tags, lengths, non-negative enums and int64s). */
  uint(n: number): void {
    this.ensure(10);
    this.pos = writeVarint(this.buf, this.pos, n);
  }

  /** int32 and enum: a negative number takes ten bytes (it is sign-extended to 64 bits), as protobuf specifies. */
  int32(n: number): void {
    if (!Number.isInteger(n) || n < -0x80000000 || n > 0x7fffffff) throw new WireError(`cannot encode ${n} as an int32`);
    if (n >= 0) return this.uint(n);
    this.int64(n);
  }

  /** An int64 within the safe-integer range; a negative one as its 64-bit two's complement. */
  int64(n: number): void {
    if (!Number.isSafeInteger(n)) throw new WireError(`cannot encode ${n} as an int64 (a whole number within 2^53 is needed)`);
    if (n >= 0) return this.uint(n);
    this.ensure(10);
    const big = BigInt.asUintN(64, BigInt(n));
    let v = big;
    for (let i = 0; i < 9; i++) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  tag(field: number, wire: number): void {
    this.uint(field * 8 + wire);
  }

  bool(v: boolean): void {
    this.ensure(1);
    this.buf[this.pos++] = v ? 1 : 0;
  }

  double(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  /** A length-prefixed UTF-8 string (a lone surrogate becomes U+FFFD, as TextEncoder and Buffer write it). */
  string(s: string): void {
    const n = s.length;
    if (n < 43) {
      // At most 3 bytes per UTF-16 unit, so at most 126 bytes: the length fits in the one byte kept for it.
      this.ensure(1 + 3 * n);
      const buf = this.buf;
      const start = this.pos;
      let p = start + 1;
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c < 0x80) {
          buf[p++] = c;
        } else if (c < 0x800) {
          buf[p++] = 0xc0 | (c >> 6);
          buf[p++] = 0x80 | (c & 0x3f);
        } else if (c >= 0xd800 && c < 0xdc00 && i + 1 < n && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) < 0xe000) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
          buf[p++] = 0xf0 | (cp >> 18);
          buf[p++] = 0x80 | ((cp >> 12) & 0x3f);
          buf[p++] = 0x80 | ((cp >> 6) & 0x3f);
          buf[p++] = 0x80 | (cp & 0x3f);
        } else {
          const u = c >= 0xd800 && c < 0xe000 ? 0xfffd : c;
          buf[p++] = 0xe0 | (u >> 12);
          buf[p++] = 0x80 | ((u >> 6) & 0x3f);
          buf[p++] = 0x80 | (u & 0x3f);
        }
      }
      buf[start] = p - start - 1;
      this.pos = p;
      return;
    }
    const len = Buffer.byteLength(s, "utf8");
    this.uint(len);
    this.ensure(len);
    this.pos += this.buf.write(s, this.pos, len, "utf8");
  }

  bytes(b: Uint8Array): void {
    this.uint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Starts a length-prefixed field; pass what it returns to `join` once the field's contents are written. */
  fork(): number {
    this.ensure(1);
    return this.pos++;
  }

  /** Writes the length kept by `fork`, moving the contents when the length needs more than one byte. */
  join(at: number): void {
    const len = this.pos - at - 1;
    if (len < 0x80) {
      this.buf[at] = len;
      return;
    }
    let size = 1;
    for (let v = len; v > 0x7f; v = Math.floor(v / 0x80)) size++;
    this.ensure(size - 1);
    this.buf.copy(this.buf, at + size, at + 1, this.pos);
    writeVarint(this.buf, at, len);
    this.pos = at + size + len;
  }
}

/** Writes `n` (non-negative, below 2^53) as a varint at `pos`; returns the position after it. */
function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n > 0x7f) {
    buf[pos++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[pos++] = n;
  return pos;
}
