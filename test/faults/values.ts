// Every secret value the run came to know, with a label (`orders:v3`) that reports use instead of the value. A value
// is known once it is seen anywhere: the seed, the app Secret, Key Vault, the state Secret (pending values that never
// reached a target), or the admin's password. Which values reached a target (the app Secret or Key Vault) is kept
// per SecretRotation: that is what "one new value per trigger" counts.

export type Where = "seed" | "admin" | "app" | "vault" | "state";

/** How a value can appear in text: as it is, percent-encoded (in a URI), base64-encoded (in a Secret's data). */
export function encodings(value: string): string[] {
  return [...new Set([value, encodeURIComponent(value), Buffer.from(value).toString("base64")])];
}

export class ValueBook {
  private readonly labels = new Map<string, string>();
  private readonly seeds = new Set<string>();
  /** Per SecretRotation, values that reached a target, in the order first seen. */
  private readonly reached = new Map<string, string[]>();
  private readonly counters = new Map<string, number>();

  /** Records a value seen at `where` for `owner` (a SecretRotation, or `admin`); returns its label. */
  note(owner: string, value: string | undefined, where: Where): string | undefined {
    if (value === undefined || value === "") return undefined;
    let label = this.labels.get(value);
    if (label === undefined) {
      const n = this.counters.get(owner) ?? 0;
      label = where === "seed" || where === "admin" ? `${owner}:${where}` : `${owner}:v${n + 1}`;
      if (where !== "seed" && where !== "admin") this.counters.set(owner, n + 1);
      this.labels.set(value, label);
    }
    if (where === "seed") this.seeds.add(value);
    if (where === "app" || where === "vault") {
      const list = this.reached.get(owner) ?? [];
      if (!list.includes(value)) list.push(value);
      this.reached.set(owner, list);
    }
    return label;
  }

  label(value: string | undefined): string {
    return (value !== undefined && this.labels.get(value)) || "(unknown value)";
  }

  /** Values that reached a target of `owner`, oldest first, its seed included. */
  reachedTargets(owner: string): string[] {
    return [...(this.reached.get(owner) ?? [])];
  }

  /** New values (not the seed) that reached a target of `owner`. */
  newValues(owner: string): string[] {
    return this.reachedTargets(owner).filter((v) => !this.seeds.has(v));
  }

  known(): { value: string; label: string }[] {
    return [...this.labels.entries()].map(([value, label]) => ({ value, label }));
  }

  /** `text` with every known value, in any of its encodings, replaced by its label. */
  redact(text: string): string {
    let out = text;
    const longestFirst = this.known().sort((a, b) => b.value.length - a.value.length);
    for (const { value, label } of longestFirst) for (const form of encodings(value)) out = out.split(form).join(`[${label}]`);
    return out;
  }
}
