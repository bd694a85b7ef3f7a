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
  /** Server-side apply of exactly these keys, annotations and labels, as the rotation's field manager, taking ownership. */
  applySecret(name: string, data: Record<string, string>, annotations: Record<string, string>, labels: Record<string, string>): Promise<SecretView>;
  listDeployments(matchLabels?: Record<string, string>): Promise<DeploymentView[]>;
  /** Sets one pod-template annotation (a rollout when it changes, a no-op when it is already there). */
  setPodTemplateAnnotation(deployment: string, key: string, value: string): Promise<void>;
}

export interface DeploymentView {
  name: string;
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
  sslmode: string;
}

export interface PostgresPort {
  /**
   * Sets the role's password (as a SCRAM verifier, so the plaintext never reaches server logs), creating the role
   * as a login member of `memberOf` when it does not exist. Fenced by `version`: a call for an older version than the
   * role last received is refused with StaleError, so a delayed duplicate can never undo a newer rotation.
   */
  setPassword(admin: PostgresConnection, role: string, password: string, version: number, memberOf?: string): Promise<void>;
  /** Logs in with these credentials and runs `select 1`; throws the server's error if refused. */
  testLogin(connection: PostgresConnection): Promise<void>;
}

export class StaleError extends Error {}

/** The server refused the credentials (as opposed to being unreachable). */
export class AuthenticationError extends Error {}

export interface FlexibleServerPort {
  setAdminPassword(resourceGroupName: string, serverName: string, password: string): Promise<void>;
}

export interface KeyVaultPort {
  /** Tags of the latest version, or undefined when the secret does not exist. */
  latestTags(vaultName: string, secretName: string): Promise<Record<string, string> | undefined>;
  setSecret(vaultName: string, secretName: string, value: string, tags: Record<string, string>): Promise<void>;
}

export interface Ports {
  kubernetes: KubernetesPort;
  postgres: PostgresPort;
  flexibleServer: FlexibleServerPort;
  keyVault: KeyVaultPort;
}
