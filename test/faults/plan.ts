// The fault schedule: every decision to inject a fault is drawn here, from the configured rates and the seeded PRNG,
// one stream per fault source. The proxies, the driver, the process chaos and the meddlers only apply what it says.
// `stop()` ends all faults at once, for the settle phase.
import type { FaultConfig, FaultKindName } from "./config.ts";
import type { Random } from "./random.ts";

export interface CallFaults {
  /** Stop waiting for the reply after this long (the server keeps working). */
  giveUpAfterMs?: number;
  dropReply: boolean;
  duplicate: boolean;
  replay: boolean;
}

export type HttpFault = { kind: "delay"; ms: number } | { kind: "hold"; ms: number } | { kind: "loseReply" };

export type ReplicaFault = { kind: "pause"; ms: number } | { kind: "kill" };

const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export class FaultPlan {
  private active = true;
  private readonly config: FaultConfig;
  private readonly streams: Record<"driver" | "kube" | "azure" | "replicas" | "meddlers", Random>;

  constructor(config: FaultConfig, random: Random) {
    this.config = config;
    this.streams = { driver: random.fork("driver"), kube: random.fork("kube"), azure: random.fork("azure"), replicas: random.fork("replicas"), meddlers: random.fork("meddlers") };
  }

  stop(): void {
    this.active = false;
  }

  private draw(kind: FaultKindName, stream: Random): boolean {
    const k = this.config.kinds[kind];
    // Drawn even when off, so turning one kind off leaves the other kinds' draws where they were.
    const hit = stream.chance(k.rate);
    return this.active && k.on && hit;
  }

  forCall(): CallFaults {
    const s = this.streams.driver;
    const giveUp = this.draw("giveUp", s);
    const giveUpAfterMs = s.between(this.config.durations.giveUpAfterMs);
    return { ...(giveUp ? { giveUpAfterMs } : {}), dropReply: this.draw("dropReply", s), duplicate: this.draw("duplicateCall", s), replay: this.draw("replayOldCall", s) };
  }

  forKubeRequest(method: string): HttpFault | undefined {
    const s = this.streams.kube;
    const ms = s.between(this.config.durations.kubeDelayMs);
    const write = WRITES.has(method);
    const late = this.draw(write ? "kubeDelayWrite" : "kubeHoldRead", s);
    if (this.draw("kubeLoseReply", s)) return { kind: "loseReply" };
    if (late) return write ? { kind: "delay", ms } : { kind: "hold", ms };
    return undefined;
  }

  forAzureRequest(): { delayMs?: number; loseReply: boolean } | undefined {
    const s = this.streams.azure;
    const ms = s.between(this.config.durations.azureDelayMs);
    const delay = this.draw("azureDelay", s);
    const loseReply = this.draw("azureLoseReply", s);
    return delay || loseReply ? { ...(delay ? { delayMs: ms } : {}), loseReply } : undefined;
  }

  /** Drawn once a second for each running replica. */
  forReplica(): ReplicaFault | undefined {
    const s = this.streams.replicas;
    const ms = s.between(this.config.durations.pauseMs);
    const pause = this.draw("pauseReplica", s);
    if (this.draw("killReplica", s)) return { kind: "kill" };
    return pause ? { kind: "pause", ms } : undefined;
  }

  /** Drawn once a second for each SecretRotation. */
  forRotation(): { deleteState: boolean; outsideWrite: boolean } {
    const s = this.streams.meddlers;
    return { deleteState: this.draw("deleteState", s), outsideWrite: this.draw("outsideWrite", s) };
  }
}
