// Violations of the product's promises, by invariant: how many, and the first few as examples (never with a value in
// them; values appear by their label, see values.ts).

export const INVARIANTS = {
  appSecretLogsIn: "the app Secret's credentials log in (single: within loginWindowMs; alternating: always)",
  vaultMatchesAppSecret: "Key Vault's latest value equals the app Secret's value (within vaultLagMs)",
  oneValuePerTrigger: "one new value per trigger: values seen in Key Vault and the app Secret = handled triggers (+ the initial rotation)",
  noValueLeaked: "no value in a server log, a gRPC response, or PostgreSQL's statement log",
  settles: "once faults stop: the app Secret logs in, the rotation is Idle and every trigger was handled (within settleMs)",
  replicasStayUp: "a replica exits only when the harness kills it",
} as const;

export type Invariant = keyof typeof INVARIANTS;

export interface Violation {
  /** Seconds since the run started. */
  at: string;
  xr?: string;
  what: string;
  /** The faults just before it. */
  recentFaults?: string[];
}

const EXAMPLES = 5;

export class Violations {
  private readonly found = new Map<Invariant, { count: number; examples: Violation[] }>();

  record(invariant: Invariant, v: Violation): void {
    const entry = this.found.get(invariant) ?? { count: 0, examples: [] };
    entry.count += 1;
    if (entry.examples.length < EXAMPLES) entry.examples.push(v);
    this.found.set(invariant, entry);
  }

  total(): number {
    return [...this.found.values()].reduce((n, e) => n + e.count, 0);
  }

  byInvariant(): Record<Invariant, { count: number; examples: Violation[] }> {
    const all = Object.keys(INVARIANTS) as Invariant[];
    return Object.fromEntries(all.map((i) => [i, this.found.get(i) ?? { count: 0, examples: [] }])) as Record<Invariant, { count: number; examples: Violation[] }>;
  }
}
