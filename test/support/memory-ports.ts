// In-memory ports for the rotation protocol's tables and fault injection: the same contracts as the real
// adapters (compare-and-swap, server-side-apply ownership, fenced role passwords), with every mutation logged
// so a test can crash the "process" right after any externally visible step.
import {
  AuthenticationError,
  ConflictError,
  RoleClaimedError,
  StaleError,
  type WorkloadKind,
  type WorkloadView,
  type PostgresConnection,
  type Ports,
  type SecretView,
} from "../../functions/secret-rotation/ports.ts";

export const ROTATION_MANAGER = "azplatform.io/secret-rotation";

interface StoredSecret {
  data: Record<string, string>;
  annotations: Record<string, string>;
  labels: Record<string, string>;
  resourceVersion: number;
  /** data key -> Apply managers owning it */
  owners: Record<string, string[]>;
  /** data key -> managers that wrote it with an update (kubectl edit, Helm), not an apply */
  updaters?: Record<string, string[]>;
  /** Annotations the rotation's field manager applied: an apply that omits one removes it, as server-side apply does. */
  appliedAnnotations?: string[];
}

export class Crash extends Error {}

export interface World {
  secrets: Map<string, StoredSecret>;
  /** Workloads by name (a Deployment unless `kind` says otherwise). */
  deployments: Map<string, { kind?: WorkloadKind; secrets: string[]; annotations: Record<string, string>; rollouts: number }>;
  /** Every value set on a target (a role, a server's admin, a Key Vault version), in order: "one value" means one value. */
  valuesSet: string[];
  /** role -> password, and the fence it was set with (no rotation: never fenced; version 0 then) */
  roles: Map<string, { password: string; version: number; rotation?: string; memberOf?: string }>;
  adminPasswords: Map<string, string>;
  /** `rg/server` -> the server's Azure tags; a server not here does not exist. */
  serverTags: Map<string, Record<string, string>>;
  vault: Array<{ name: string; value: string; tags: Record<string, string> }>;
  /** Every externally visible change, in order. */
  mutations: string[];
  /** Every call, reads included. */
  calls: string[];
  /** Throw Crash right after the mutation with this index (0-based) has taken effect. */
  crashAfter?: number;
  crashed?: boolean;
  /** Make these operations fail (e.g. "postgres.setPassword"), with this message. */
  failing: Map<string, string>;
  rv: number;
}

export function newWorld(): World {
  return { secrets: new Map(), deployments: new Map(), valuesSet: [], roles: new Map(), adminPasswords: new Map(), serverTags: new Map(), vault: [], mutations: [], calls: [], failing: new Map(), rv: 1 };
}

export function view(s: StoredSecret, self: string): SecretView {
  const otherOwners: Record<string, string[]> = {};
  for (const [k, ms] of Object.entries(s.owners)) {
    const others = ms.filter((m) => m !== self);
    if (others.length > 0) otherOwners[k] = others;
  }
  const otherWriters: Record<string, string[]> = structuredClone(otherOwners);
  for (const [k, ms] of Object.entries(s.updaters ?? {})) otherWriters[k] = [...(otherWriters[k] ?? []), ...ms];
  return { data: { ...s.data }, annotations: { ...s.annotations }, labels: { ...s.labels }, resourceVersion: String(s.resourceVersion), otherOwners, otherWriters };
}

/** Ports over a world. `manager` is the field manager the Kubernetes port applies as. */
export function memoryPorts(w: World, manager = ROTATION_MANAGER): Ports {
  const call = (name: string): Promise<never> | undefined => {
    // After a crash the process is gone: nothing it would still do reaches the world.
    if (w.crashed) throw new Crash("the process has crashed");
    w.calls.push(name);
    const failure = w.failing.get(name);
    if (failure === "hang") return new Promise<never>(() => undefined);
    if (failure !== undefined) throw new Error(failure);
  };
  const mutated = (what: string) => {
    w.mutations.push(what);
    if (w.crashAfter !== undefined && w.mutations.length - 1 === w.crashAfter) {
      w.crashed = true;
      throw new Crash(`crash after ${what}`);
    }
  };
  const secret = (name: string) => w.secrets.get(name);
  return {
    kubernetes: {
      async getSecret(name) {
        call("k8s.getSecret");
        const s = secret(name);
        return s && view(s, manager);
      },
      async createSecret(name, data, annotations, labels) {
        call("k8s.createSecret");
        if (w.secrets.has(name)) throw new ConflictError(`secrets "${name}" already exists`);
        const s = { data: { ...data }, annotations: { ...annotations }, labels: { ...labels }, resourceVersion: w.rv++, owners: {} };
        w.secrets.set(name, s);
        mutated(`create ${name}`);
        return view(s, manager);
      },
      async replaceSecret(name, resourceVersion, data, annotations, labels) {
        call("k8s.replaceSecret");
        const s = secret(name);
        if (s === undefined || String(s.resourceVersion) !== resourceVersion) throw new ConflictError(`the object has been modified`);
        Object.assign(s, { data: { ...data }, annotations: { ...annotations }, labels: { ...labels }, resourceVersion: w.rv++ });
        mutated(`replace ${name} ${annotations["rotation.azplatform.io/phase"] ?? ""}`.trim());
        return view(s, manager);
      },
      async applySecret(name, data, annotations, labels, resourceVersion) {
        call("k8s.applySecret");
        let s = secret(name);
        if (resourceVersion !== undefined && String(s?.resourceVersion ?? "") !== resourceVersion) {
          throw new ConflictError(`Operation cannot be fulfilled on secrets "${name}": the object has been modified`);
        }
        if (s === undefined) {
          s = { data: {}, annotations: {}, labels: {}, resourceVersion: w.rv, owners: {} };
          w.secrets.set(name, s);
        }
        for (const [k, v] of Object.entries(data)) {
          const others = (s.owners[k] ?? []).filter((m) => m !== manager);
          // force=true: a different value takes the field over; the same value is shared.
          s.owners[k] = s.data[k] === v ? [...others, manager] : [manager];
          if (s.data[k] !== v && s.updaters !== undefined) s.updaters = Object.fromEntries(Object.entries(s.updaters).filter(([key]) => key !== k));
          s.data[k] = v;
        }
        const dropped = (s.appliedAnnotations ?? []).filter((k) => !(k in annotations));
        s.annotations = Object.fromEntries(Object.entries(s.annotations).filter(([k]) => !dropped.includes(k)));
        s.appliedAnnotations = Object.keys(annotations);
        Object.assign(s.annotations, annotations);
        Object.assign(s.labels, labels);
        s.resourceVersion = w.rv++;
        mutated(`apply ${name} ${Object.keys(data).sort().join(",")}`);
        return view(s, manager);
      },
      async listWorkloads(matchLabels) {
        call("k8s.listWorkloads");
        const out: WorkloadView[] = [];
        for (const [name, d] of w.deployments) {
          if (matchLabels !== undefined && !name.startsWith(matchLabels.app ?? "")) continue;
          out.push({ kind: d.kind ?? "Deployment", name, secrets: d.secrets, podTemplateAnnotations: { ...d.annotations } });
        }
        return out;
      },
      async setPodTemplateAnnotation({ name }, key, value) {
        call("k8s.setPodTemplateAnnotation");
        const d = w.deployments.get(name);
        if (d === undefined) throw new Error(`workload "${name}" not found`);
        if (d.annotations[key] !== value) d.rollouts++;
        d.annotations[key] = value;
        mutated(`roll ${name} ${value}`);
      },
    },
    postgres: {
      async setPassword(admin: PostgresConnection, role, password, fence, memberOf, signal) {
        call("postgres.setPassword");
        signal?.throwIfAborted();
        login(w, admin.user, admin.password);
        const r = w.roles.get(role);
        if (r === undefined && memberOf === undefined) throw new Error(`role "${role}" does not exist`);
        if (r?.rotation !== undefined && r.rotation !== fence.rotation && r.rotation !== fence.takesOver) {
          throw new RoleClaimedError(`role "${role}" is rotated by SecretRotation ${r.rotation}; to hand it over, remove [azplatform.io/rotation ${r.rotation} v=${r.version}] from its comment`);
        }
        if (r !== undefined && r.version > fence.version) throw new StaleError(`role ${role} is at rotation version ${r.version}`);
        w.roles.set(role, { password, version: fence.version, rotation: fence.rotation, ...(memberOf ? { memberOf } : {}) });
        w.valuesSet.push(password);
        mutated(`alter role ${role} v${fence.version}`);
      },
      async readFence(admin, role) {
        call("postgres.readFence");
        login(w, admin.user, admin.password);
        const r = w.roles.get(role);
        return r?.rotation === undefined ? undefined : { rotation: r.rotation, version: r.version };
      },
      async testLogin(c, signal) {
        call("postgres.testLogin");
        signal?.throwIfAborted();
        login(w, c.user, c.password);
      },
    },
    flexibleServer: {
      async serverTags(rg, server) {
        call("arm.serverTags");
        const tags = w.serverTags.get(`${rg}/${server}`);
        if (tags === undefined) throw new Error(`Azure Resource Manager: cannot read Flexible Server ${rg}/${server}: HTTP 404 ResourceNotFound`);
        return tags;
      },
      async setAdminPassword(rg, server, password) {
        call("arm.setAdminPassword");
        w.adminPasswords.set(`${rg}/${server}`, password);
        w.valuesSet.push(password);
        const admin = w.roles.get("pgadmin");
        if (admin) admin.password = password;
        mutated(`arm patch ${server}`);
      },
    },
    keyVault: {
      async latest(vault, name) {
        await call("kv.latest");
        const v = w.vault.filter((x) => x.name === `${vault}/${name}`).at(-1);
        return v === undefined ? undefined : { value: v.value, tags: v.tags };
      },
      async checkWritable() {
        await call("kv.checkWritable");
      },
      async setSecret(vault, name, value, tags) {
        call("kv.setSecret");
        w.vault.push({ name: `${vault}/${name}`, value, tags });
        w.valuesSet.push(value);
        mutated(`kv set ${name} ${tags["rotation-version"]}`);
      },
    },
  };
}

export function login(w: World, user: string, password: string): void {
  const r = w.roles.get(user);
  if (r === undefined || r.password !== password) throw new AuthenticationError(`password authentication failed for user "${user}"`);
}

export function accepts(w: World, user: string | undefined, password: string | undefined): boolean {
  if (user === undefined || password === undefined) return false;
  return w.roles.get(user)?.password === password;
}
