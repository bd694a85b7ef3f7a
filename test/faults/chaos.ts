// Process chaos: once a second, each running replica may be paused for a while or killed (and started again).
import type { FaultPlan } from "./plan.ts";
import type { Replicas } from "./replicas.ts";

export class ProcessChaos {
  private timer: NodeJS.Timeout | undefined;
  private readonly restarts = new Set<Promise<void>>();
  private readonly replicas: Replicas;
  private readonly plan: FaultPlan;

  constructor(replicas: Replicas, plan: FaultPlan) {
    this.replicas = replicas;
    this.plan = plan;
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), 1_000);
  }

  private tick(): void {
    for (const replica of this.replicas.all) {
      if (replica.state !== "up") continue;
      const fault = this.plan.forReplica();
      if (fault?.kind === "pause") this.replicas.pause(replica, fault.ms);
      if (fault?.kind === "kill") {
        const restart = this.replicas.kill(replica).finally(() => this.restarts.delete(restart));
        this.restarts.add(restart);
      }
    }
  }

  /** No more chaos: paused replicas resume now, killed ones are running again when this returns. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.replicas.resumeAll();
    await Promise.all(this.restarts);
  }
}
