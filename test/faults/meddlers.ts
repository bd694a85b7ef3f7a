// Others who touch a rotation's Secrets, once a second per SecretRotation: an admin deleting the state Secret (its
// pending value and phase gone), and another field manager force-applying an old value into the app Secret's key (a
// `kubectl apply --server-side --force-conflicts` of an old manifest).
import type { Kube } from "../cluster/kube.ts";
import type { FaultPlan } from "./plan.ts";
import type { Random } from "./random.ts";
import { readSecret } from "./read-secret.ts";
import type { RunRecord } from "./record.ts";
import type { ValueBook } from "./values.ts";
import type { RotationUnderTest } from "./world.ts";

const OUTSIDE_WRITER = "outside-writer";

export class Meddlers {
  private timer: NodeJS.Timeout | undefined;
  private readonly busy = new Set<Promise<void>>();
  private readonly admin: Kube;
  private readonly plan: FaultPlan;
  private readonly random: Random;
  private readonly record: RunRecord;
  private readonly book: ValueBook;
  private readonly rotations: RotationUnderTest[];

  constructor(admin: Kube, plan: FaultPlan, random: Random, record: RunRecord, book: ValueBook, rotations: RotationUnderTest[]) {
    this.admin = admin;
    this.plan = plan;
    this.random = random;
    this.record = record;
    this.book = book;
    this.rotations = rotations;
  }

  start(): void {
    this.timer = setInterval(() => {
      for (const r of this.rotations) {
        const faults = this.plan.forRotation();
        if (faults.deleteState) this.run(this.deleteState(r));
        if (faults.outsideWrite) this.run(this.writeOldValue(r));
      }
    }, 1_000);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.busy);
  }

  private run(p: Promise<void>): void {
    const done = p.catch(() => this.record.count("meddler writes the API server refused")).finally(() => this.busy.delete(done));
    this.busy.add(done);
  }

  private async deleteState(r: RotationUnderTest): Promise<void> {
    this.record.event("deleteState", r.name);
    await this.admin.delete({ apiVersion: "v1", kind: "Secret", namespace: r.namespace, name: `${r.name}-rotation-state` });
  }

  private async writeOldValue(r: RotationUnderTest): Promise<void> {
    const now = (await readSecret(this.admin, r.namespace, r.secretName))?.data[r.key];
    const old = this.random.pick(this.book.reachedTargets(r.name).filter((v) => v !== now));
    if (old === undefined) return;
    this.record.event("outsideWrite", `${r.name} ${this.book.label(old)} into ${r.secretName}.${r.key}`);
    const patch = { apiVersion: "v1", kind: "Secret", metadata: { name: r.secretName, namespace: r.namespace }, data: { [r.key]: Buffer.from(old).toString("base64") } };
    await this.admin.apply(patch, { fieldManager: OUTSIDE_WRITER, force: true });
  }
}
