// The side effects of a rotation, behind small interfaces. Real adapters: kubernetes.ts, postgres.ts, azure.ts.
// Every method is idempotent for the same arguments, so a step can be repeated after a crash or a lost reply.

/** A Kubernetes Secret as the rotation sees it: decoded data, annotations, and who else applies which key. */
export interface SecretView {
  data: Record<string, string>;
  annotations: Record<string, string>;
  labels: Record<string, string>;
  resourceVersion: string;
  /** data key -> field managers other than the rotation that own it through server-side apply. */
  otherOwners: Record<string, string[]>;
  /** data key -> every other field manager that wrote it, by apply or by update (kubectl edit, Helm, an operator). */
  otherWriters: Record<string, string[]>;
}

export class ConflictError extends Error {}

/** The SecretRotation that owns its state Secret, so deleting it deletes the stored values too. */
export interface OwnerRef {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

/** Kubernetes, scoped to the SecretRotation's own namespace: no method can reach another namespace. */
export interface KubernetesPort {
  getSecret(name: string): Promise<SecretView | undefined>;
  /** Creates the Secret; ConflictError if it exists. */
  createSecret(name: string, data: Record<string, string>, annotations: Record<string, string>, labels: Record<string, string>, owner?: OwnerRef): Promise<SecretView>;
  /** Replaces data and annotations if resourceVersion still matches; ConflictError otherwise. */
  replaceSecret(
    name: string,
    resourceVersion: string,
    data: Record<string, string>,
    annotations: Record<string, string>,
    labels: Record<string, string>,
    owner?: OwnerRef,
  ): Promise<SecretView>;
  /**
   * Server-side apply of exactly these keys, annotations and labels, as the rotation's field manager, taking ownership.
   * With `resourceVersion`, only if the Secret is still at it (ConflictError otherwise): a write that waited, in a
   * paused process or on the network, can never land over a newer one.
   */
  applySecret(name: string, data: Record<string, string>, annotations: Record<string, string>, labels: Record<string, string>, resourceVersion?: string): Promise<SecretView>;
  /** Deployments, StatefulSets and DaemonSets, with the Secrets their pod templates read. */
  listWorkloads(matchLabels?: Record<string, string>): Promise<WorkloadView[]>;
  /** Sets one pod-template annotation (a rollout when it changes, a no-op when it is already there). */
  setPodTemplateAnnotation(workload: WorkloadRef, key: string, value: string): Promise<void>;
}

export type WorkloadKind = "Deployment" | "StatefulSet" | "DaemonSet";

export interface WorkloadRef {
  kind: WorkloadKind;
  name: string;
}

export interface WorkloadView extends WorkloadRef {
  /** Secret names the pod template reads: env, envFrom, volumes, projected volumes, in all containers. */
  secrets: string[];
  podTemplateAnnotations: Record<string, string>;
}

export interface PostgresConnection {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  /** `disable`: no TLS. Anything else: TLS, verified against the default CA store and the host name. */
  sslmode: string;
  /** `false` accepts any certificate (development servers only); the default verifies. */
  tlsVerify?: boolean;
}

/** Which SecretRotation (`<namespace>/<name>`) last set a role's password, and for which of its versions. */
export interface RoleFence {
  rotation: string;
  version: number;
  /**
   * A SecretRotation (`<namespace>/<name>`) that Crossplane reported deleted: its fence on the role may be
   * replaced by this one (at a version no lower than its own), so its successor on the same Secret carries on.
   */
  takesOver?: string;
}

export interface PostgresPort {
  /**
   * Sets the role's password (as a SCRAM verifier, so the plaintext never reaches server logs), creating the role
   * as a login member of `memberOf` when it does not exist. With `memberOf`, the role is made to behave like it for
   * apps on every call: the same per-role settings, and acting as `memberOf` (`SET role`) unless that acts as another.
   * Fenced: a role another rotation owns is refused with RoleClaimedError, and a version older than the one the role
   * last received with StaleError, so a delayed duplicate can never undo a newer rotation; the same version sets the
   * value again. Calls for one role serialise on the role itself, whatever database they connect to (RoleBusyError
   * when they keep colliding). When `signal` fires, the call rejects with its reason, and changes nothing unless it
   * had already committed.
   */
  setPassword(admin: PostgresConnection, role: string, password: string, fence: RoleFence, memberOf?: string, signal?: AbortSignal): Promise<void>;
  /** The fence a rotation left on the role; undefined when no rotation has, or the role does not exist. */
  readFence(admin: PostgresConnection, role: string): Promise<RoleFence | undefined>;
  /** Logs in with these credentials and runs `select 1`; throws the server's error if refused. */
  testLogin(connection: PostgresConnection, signal?: AbortSignal): Promise<void>;
}

export class StaleError extends Error {}

/** The role carries the fence of another SecretRotation: two rotations must never take turns on one role. */
export class RoleClaimedError extends Error {}

/** Another session changed the role at the same moment, twice in a row; trying again later is safe. */
export class RoleBusyError extends Error {}

/** The server refused the credentials (as opposed to being unreachable). */
export class AuthenticationError extends Error {}

export interface FlexibleServerPort {
  /** The server's Azure tags, read from Azure Resource Manager; throws when the server cannot be read. */
  serverTags(resourceGroupName: string, serverName: string, signal?: AbortSignal): Promise<Record<string, string>>;
  /** When `signal` fires the call stops waiting and sends nothing more; an operation Azure accepted still runs. */
  setAdminPassword(resourceGroupName: string, serverName: string, password: string, signal?: AbortSignal): Promise<void>;
}

export interface KeyVaultPort {
  /** The latest version's value and tags, or undefined when the secret does not exist. */
  latest(vaultName: string, secretName: string, signal?: AbortSignal): Promise<{ value: string; tags: Record<string, string> } | undefined>;
  setSecret(vaultName: string, secretName: string, value: string, tags: Record<string, string>, signal?: AbortSignal): Promise<void>;
  /**
   * Proves the identity may write the secret, changing nothing a reader sees: the latest version's tags are written
   * again as they are (Key Vault asks the same permission as for a new version). A secret that does not exist yet
   * is left alone: its first version is the proof.
   */
  checkWritable(vaultName: string, secretName: string, signal?: AbortSignal): Promise<void>;
}

export interface Ports {
  kubernetes: KubernetesPort;
  postgres: PostgresPort;
  flexibleServer: FlexibleServerPort;
  keyVault: KeyVaultPort;
}
