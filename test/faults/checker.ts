// The invariants, checked every ~100 ms for each SecretRotation against the real systems: the app Secret as the API
// server has it, a real PostgreSQL login with its credentials, and Key Vault's versions. A failed login counts only when the Secret still holds the same credentials afterwards: a
// rotation that promoted a new value between the read and the login is not a failure.
import { A } from "../../functions/secret-rotation/state.ts";
import type { Kube } from "../cluster/kube.ts";
import type { AzureFake } from "../servers/azure/index.ts";
import type { FaultConfig } from "./config.ts";
import type { RotationDriver } from "./driver.ts";
import { tryLogin, type PostgresServer } from "./postgres-login.ts";
import { readSecret, type SecretRead } from "./read-secret.ts";
import { seconds, type RunRecord } from "./record.ts";
import type { ValueBook } from "./values.ts";
import type { Violations } from "./violations.ts";
import { BoundedWindows } from "./windows.ts";
import type { RotationUnderTest } from "./world.ts";

export interface Watched {
  rotation: RotationUnderTest;
  driver: RotationDriver;
}

interface Tracked extends Watched {
  login: BoundedWindows;
  vault: BoundedWindows;
  lastLogin: "ok" | "refused" | "unknown";
  /** What the checker saw change, in order (`+12.3s state Pending v2 ...`): the story of a violation. */
  changes: string[];
  lastSeen: Record<"app" | "vault" | "state", string>;
  /** How many new values beyond the rotations asked for were reported already: each extra value is reported once. */
  excessReported: number;
}

export interface CheckerSetup {
  admin: Kube;
  postgres: PostgresServer;
  azure: AzureFake;
  watched: Watched[];
  book: ValueBook;
  record: RunRecord;
  violations: Violations;
  config: FaultConfig;
}

const CHANGES = 5_000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Checker {
  private readonly s: CheckerSetup;
  private readonly tracked: Tracked[];
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(setup: CheckerSetup) {
    this.s = setup;
    const { bounds } = setup.config;
    this.tracked = setup.watched.map((w) => {
      const name = w.rotation.name;
      const exceeded = (invariant: "appSecretLogsIn" | "vaultMatchesAppSecret", bound: number) => (since: number, length: number, detail: string) =>
        setup.violations.record(invariant, { at: seconds(since), xr: name, what: `${detail}, for ${seconds(length)} or more (bound ${seconds(bound)})`, recentFaults: setup.record.before(since) });
      const loginBound = bounds.loginWindowMs[w.rotation.strategy];
      return {
        ...w,
        login: new BoundedWindows(loginBound, exceeded("appSecretLogsIn", loginBound)),
        vault: new BoundedWindows(bounds.vaultLagMs, exceeded("vaultMatchesAppSecret", bounds.vaultLagMs)),
        lastLogin: "unknown",
        changes: [],
        lastSeen: { app: "", vault: "", state: "" },
        excessReported: 0,
      };
    });
  }

  start(): void {
    this.running = true;
    this.loops = this.tracked.map((t) => this.loop(t));
  }

  /** Whether the app Secret of `name` logged in at the last check. */
  logsIn(name: string): boolean {
    return this.tracked.find((t) => t.rotation.name === name)?.lastLogin === "ok";
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** Stops the checks, checks once more, and ends the open windows: the run is over. */
  async finish(): Promise<void> {
    await this.stop();
    for (const t of this.tracked) {
      await this.check(t);
      const at = this.s.record.now();
      t.login.close(at);
      t.vault.close(at);
      const made = this.s.book.newValues(t.rotation.name).length;
      const handled = t.driver.causesHandled().length;
      if (made < handled) {
        this.s.violations.record("oneValuePerTrigger", { at: seconds(at), xr: t.rotation.name, what: `${handled} rotations (initial + triggers) reported handled, but only ${made} new values reached the app Secret or Key Vault` });
      }
    }
  }

  windowsMs(name: string): { login: number[]; vault: number[] } {
    const t = this.tracked.find((x) => x.rotation.name === name);
    return { login: t?.login.lengthsMs ?? [], vault: t?.vault.lengthsMs ?? [] };
  }

  changesOf(name: string): string[] {
    return this.tracked.find((x) => x.rotation.name === name)?.changes ?? [];
  }

  private saw(t: Tracked, at: number, what: "app" | "vault" | "state", description: string): void {
    if (t.lastSeen[what] === description || t.changes.length >= CHANGES) return;
    t.lastSeen[what] = description;
    t.changes.push(`+${seconds(at)} ${what} ${description}`);
  }

  private async loop(t: Tracked): Promise<void> {
    while (this.running) {
      const started = Date.now();
      await this.check(t).catch(() => this.s.record.count("checks that failed to read"));
      await sleep(Math.max(0, this.s.config.checkEveryMs - (Date.now() - started)));
    }
  }

  private async check(t: Tracked): Promise<void> {
    const { rotation } = t;
    const at = this.s.record.now();
    const app = await readSecret(this.s.admin, rotation.namespace, rotation.secretName);
    // Key Vault right after the Secret: the two are compared as of (nearly) the same instant.
    const vault = rotation.vault === undefined ? undefined : this.s.azure.vault(rotation.vault.vaultName).versions(rotation.vault.secretName).map((v) => v.value);
    this.noteTargets(t, at, app, vault);
    await this.checkLogin(t, at, app);
    if (vault !== undefined) this.checkVault(t, at, app, vault);
    await this.noteState(t, at);
    this.checkValueCount(t, at);
  }

  private noteTargets(t: Tracked, at: number, app: SecretRead | undefined, vault: string[] | undefined): void {
    const { book } = this.s;
    const password = app?.data[t.rotation.key];
    book.note(t.rotation.name, password, "app");
    for (const v of vault ?? []) book.note(t.rotation.name, v, "vault");
    this.saw(t, at, "app", app === undefined ? "missing" : `${app.data.username ?? "-"} ${book.label(password)} (version ${app.annotations[A.version] ?? "-"})`);
    if (vault !== undefined) this.saw(t, at, "vault", `${vault.length} versions, latest ${book.label(vault.at(-1))}`);
  }

  /** Pending values in the state Secret are known values too (for the leak check), though they reach no target yet. */
  private async noteState(t: Tracked, at: number): Promise<void> {
    const { book } = this.s;
    const state = await readSecret(this.s.admin, t.rotation.namespace, `${t.rotation.name}-rotation-state`);
    for (const field of ["pending", "current", "previous"]) book.note(t.rotation.name, state?.data[field], "state");
    if (state === undefined) return this.saw(t, at, "state", "missing");
    const a = state.annotations;
    const pending = state.data.pending === undefined ? "" : ` pending ${book.label(state.data.pending)}`;
    const retry = a[A.retryAt] === undefined ? "" : ` retry at ${a[A.retryAt]}`;
    this.saw(t, at, "state", `${a[A.phase] ?? "-"} v${a[A.version] ?? "-"} ${a[A.rotationId] ?? "-"} handled ${a[A.handledTriggers] ?? "-"}${pending}${retry}`);
  }

  private checkVault(t: Tracked, at: number, app: SecretRead | undefined, vault: string[]): void {
    const password = app?.data[t.rotation.key];
    const latest = vault.at(-1);
    if (latest !== undefined && latest === password) t.vault.good(at);
    else t.vault.bad(at, `Key Vault's latest is ${this.s.book.label(latest)}, the app Secret holds ${this.s.book.label(password)}`);
  }

  private async checkLogin(t: Tracked, at: number, app: SecretRead | undefined): Promise<void> {
    const user = app?.data.username;
    const password = app?.data[t.rotation.key];
    if (app === undefined || user === undefined || password === undefined) {
      t.lastLogin = "refused";
      t.login.bad(at, app === undefined ? "the app Secret does not exist" : "the app Secret has no username or password");
      return;
    }
    const outcome = await tryLogin(this.s.postgres, user, password);
    if (outcome === "ok") {
      t.lastLogin = "ok";
      t.login.good(at);
      return;
    }
    if (outcome === "error") {
      this.s.record.count("logins that failed for another reason than the credentials");
      return;
    }
    // Refused: a failure only if the Secret still holds these credentials (not a value promoted meanwhile).
    const again = await readSecret(this.s.admin, t.rotation.namespace, t.rotation.secretName);
    if (again?.resourceVersion !== app.resourceVersion) return;
    t.lastLogin = "refused";
    // An old value another writer forced into the Secret is drift: the product repairs it at its next drift check.
    const outside = this.s.record.events().filter((e) => e.kind === "outsideWrite" && e.detail.startsWith(`${t.rotation.name} `)).at(-1);
    const drift = outside !== undefined && at - outside.atMs <= this.s.config.bounds.driftRepairMs;
    const detail = `${user} with ${this.s.book.label(password)} (Secret version ${app.annotations[A.version] ?? "none"}) does not log in${drift ? " (after an outside write)" : ""}`;
    t.login.bad(at, detail, drift ? this.s.config.bounds.driftRepairMs : undefined);
  }

  /** More new values than rotations asked for so far is a violation at once; fewer is judged at the end. */
  private checkValueCount(t: Tracked, at: number): void {
    const values = this.s.book.newValues(t.rotation.name);
    const causes = t.driver.causesIssued();
    const excess = values.length - causes.length;
    if (excess <= t.excessReported) return;
    t.excessReported = excess;
    const last = (items: string[]) => `${items.length > 3 ? "..., " : ""}${items.slice(-3).join(", ")}`;
    this.s.violations.record("oneValuePerTrigger", {
      at: seconds(at),
      xr: t.rotation.name,
      what: `${values.length} new values (${last(values.map((v) => this.s.book.label(v)))}) reached the app Secret or Key Vault for ${causes.length} rotations asked for (${last(causes)})`,
      recentFaults: this.s.record.before(at, 15_000),
    });
  }
}
