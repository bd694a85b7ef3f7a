// Microsoft Entra ID sign-in for a Database's server: the DBA policy block (authentication), its refusals, the plan of
// the server's authentication block across day-2 changes, and the pure builder of the
// FlexibleServerActiveDirectoryAdministrator that makes the Entra group of the Database's namespace the server's admin.
//
// What a server without password sign-in (mode EntraId) has, and so what rotates:
// - No admin password that signs in. A server created EntraId has no administratorLogin at all (Azure refuses one at
//   creation). One created with a password admin keeps its login, which Azure fixes for the server's life, and its
//   password, but neither signs in while passwordAuthEnabled is false. A SecretRotation with flexibleServerAdmin would
//   rotate nothing anyone can use, so it is refused.
// - No role passwords at all: passwordAuthEnabled false turns password sign-in off for every role. So the application
//   Role is not composed, a postgresRole rotation is refused (no password to change, no admin session to change it
//   from), and spec.extensions is refused: provider-sql signs in with the admin password only.
// - The connection Secret carries host, port, database, sslmode and username, the group's principalName, and no
//   password (nor a uri with one). Members of the group, people or workload identities, sign in with that name and
//   their own Entra access token (scope https://ossrdbms-aad.database.windows.net/.default, valid 5 to 60 minutes) as
//   the password. What rotates is Entra's: tokens expire by themselves, and access follows group membership.
//   That role is the server's Entra admin (Microsoft advises against it for daily work); a least-privilege role for an
//   app's identity needs pgaadauth_create_principal run by an Entra admin, which provider-sql cannot sign in to do.
// - With PasswordAndEntraId, passwords work as in mode Password; the group's members may also sign in with tokens.
//
// Sources: learn.microsoft.com/azure/postgresql/security/security-entra-configure (group sign-in, token scope);
// hashicorp/terraform-provider-azurerm internal/services/postgres/postgresql_flexible_server_resource.go (create and
// update checks of authentication) and postgresql_flexible_server_active_directory_administrator_resource.go (every
// field ForceNew); crossplane-contrib/provider-upjet-azure config/externalname.go (the administrator's external name).
import { z } from "zod";
import type { Refusal } from "./fn.ts";
import { FLEXIBLE_SERVER_API, metadata, type ServerPlan } from "./resources.ts";
import { sortKeys } from "../shared/sort-keys.ts";
import { NAMESPACE_NAME, UUID } from "../shared/patterns.ts";

export const AUTHENTICATION_MODES = ["Password", "EntraId", "PasswordAndEntraId"] as const;
export type AuthenticationMode = (typeof AUTHENTICATION_MODES)[number];

const ADMINISTRATOR_KIND = "FlexibleServerActiveDirectoryAdministrator";
/** The principal name becomes the name of the group's PostgreSQL role: an identifier of at most 63 bytes. */
const MAX_ROLE_NAME_BYTES = 63;

// ---- policy ----------------------------------------------------------------------------------------------------

const entraGroup = z.strictObject({
  objectId: z.string().regex(UUID, "must be the object id of an Entra group (a UUID)").describe("Object id of the Entra group."),
  principalName: z
    .string()
    .min(1)
    .max(MAX_ROLE_NAME_BYTES, `must be at most ${MAX_ROLE_NAME_BYTES} characters: it names the group's PostgreSQL role`)
    .refine((name) => name.length > MAX_ROLE_NAME_BYTES || Buffer.byteLength(name, "utf8") <= MAX_ROLE_NAME_BYTES, {
      message: `must be at most ${MAX_ROLE_NAME_BYTES} bytes in UTF-8: it names the group's PostgreSQL role`,
    })
    .describe("Display name of the Entra group, exactly as Entra spells it (case matters): members sign in with it as their user name."),
});

export const EntraPolicy = z
  .strictObject({
    mode: z
      .enum(AUTHENTICATION_MODES)
      .default("Password")
      .describe("How people and apps sign in: Password, EntraId (Entra ID tokens only, no passwords), or PasswordAndEntraId."),
    tenantId: z
      .string()
      .regex(UUID, "must be a tenant id (a UUID)")
      .optional()
      .describe("Entra tenant of the groups. Required when mode is EntraId or PasswordAndEntraId."),
    // Keyed by namespace, never by spec.team: spec.team is whatever the Database's author writes, so keying on it would
    // let anyone make their team's group the admin of a server in another team's namespace, or the reverse.
    // Keys checked in superRefine: zod reports a bad record key only as "Invalid key in record", and a CRD cannot hold
    // a key pattern anyway.
    groups: z
      .record(z.string(), entraGroup)
      .default({})
      .describe(
        "Entra group that administers the servers of each Kubernetes namespace's Databases. With Entra ID on, a Database in a namespace not listed here is refused.",
      ),
  })
  .superRefine((p, ctx) => {
    for (const namespace of Object.keys(p.groups)) {
      if (!NAMESPACE_NAME.test(namespace)) ctx.addIssue({ code: "custom", path: ["groups", namespace], message: "is not a Kubernetes namespace name" });
    }
    if (entraOn(p.mode) && p.tenantId === undefined) {
      ctx.addIssue({ code: "custom", path: ["tenantId"], message: `Required value: mode ${p.mode} signs in with Entra ID, which needs the groups' tenant` });
    }
  });

export type EntraPolicy = z.infer<typeof EntraPolicy>;
export type EntraGroup = z.infer<typeof entraGroup>;

const entraOn = (mode: AuthenticationMode) => mode !== "Password";
const passwordOn = (mode: AuthenticationMode) => mode !== "EntraId";

// ---- refusals --------------------------------------------------------------------------------------------------

/** Every way a Database in `namespace` asking for `extensions` breaks the authentication policy. */
export function entraRefusals(policy: EntraPolicy, namespace: string, extensions: readonly string[]): Refusal[] {
  const out: Refusal[] = [];
  if (entraOn(policy.mode) && policy.groups[namespace] === undefined) {
    out.push({
      reason: "NoEntraGroup",
      message:
        `metadata.namespace: ${namespace} has no Entra group in the DBA policy's authentication.groups; with authentication.mode ${policy.mode} ` +
        `every server's Entra admin is its team's group, so the DBA team must add one before Databases in ${namespace} can be composed`,
    });
  }
  if (!passwordOn(policy.mode) && extensions.length > 0) {
    out.push({
      reason: "ExtensionsNeedPasswordSignIn",
      message:
        "spec.extensions: the DBA policy turns password sign-in off (authentication.mode EntraId), and extensions are created through provider-sql, " +
        "which signs in with the admin password only; remove spec.extensions, or ask the DBA team for authentication.mode PasswordAndEntraId",
    });
  }
  return out;
}

// ---- the server's authentication block -------------------------------------------------------------------------

/** FlexibleServer spec.forProvider.authentication. */
export interface Authentication {
  activeDirectoryAuthEnabled: boolean;
  passwordAuthEnabled: boolean;
  /** Only with Entra ID on: the provider requires it then, and Azure takes none otherwise. */
  tenantId?: string;
}

/** The block the policy's mode asks for, on a server that has no history to respect (see entraPlan for one that has). */
export function authenticationBlock(policy: EntraPolicy): Authentication {
  return block(entraOn(policy.mode), passwordOn(policy.mode), policy.tenantId);
}

function block(entra: boolean, password: boolean, tenantId: string | undefined): Authentication {
  return {
    activeDirectoryAuthEnabled: entra,
    passwordAuthEnabled: password,
    ...(entra && tenantId !== undefined ? { tenantId: tenantId.toLowerCase() } : {}),
  };
}

// ---- day-2 plan ------------------------------------------------------------------------------------------------

/**
 * One composition key per group object id. Every field of an administrator is ForceNew, and Crossplane cannot replace
 * a resource: it reports `cannot change the value of the argument` for ever. So switching a namespace's group composes
 * a new administrator under a new key, and the old one leaves once the new one is ready (make before break): the old
 * key's resource is then deleted in Azure, unless the servers are protected from deletion.
 */
export const ENTRA_ADMIN_KEY_PREFIX = "entra-admin-";
export const entraAdminKey = (objectId: string): string => `${ENTRA_ADMIN_KEY_PREFIX}${objectId.toLowerCase()}`;

/** An administrator composed on an earlier call, as Crossplane observed it. */
export interface ObservedAdministrator {
  group: EntraGroup;
  tenantId: string;
  ready: boolean;
}

const administratorFields = z.object({
  apiVersion: z.literal(FLEXIBLE_SERVER_API),
  kind: z.literal(ADMINISTRATOR_KIND),
  spec: z.object({ forProvider: z.object({ objectId: z.string(), principalName: z.string(), tenantId: z.string() }) }),
  status: z.object({ conditions: z.array(z.object({ type: z.string(), status: z.string() })).optional() }).optional(),
});

/** The administrators among the observed composed resources (req.observed.resources), by their entra-admin-* keys. */
export function observedAdministrators(resources: Readonly<Record<string, { resource?: unknown }>>): ObservedAdministrator[] {
  return Object.entries(resources)
    .filter(([key]) => key.startsWith(ENTRA_ADMIN_KEY_PREFIX))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .flatMap(([, r]) => {
      const parsed = administratorFields.safeParse(r.resource);
      if (!parsed.success) return [];
      const { objectId, principalName, tenantId } = parsed.data.spec.forProvider;
      const ready = (parsed.data.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
      return [{ group: { objectId: objectId.toLowerCase(), principalName }, tenantId: tenantId.toLowerCase(), ready }];
    });
}

/** status.atProvider.authentication of the server, as Azure reports it. */
export interface ObservedAuthentication {
  activeDirectoryAuthEnabled?: boolean;
  passwordAuthEnabled?: boolean;
  tenantId?: string;
}

export interface EntraPlanInput {
  policy: EntraPolicy;
  /** The Database's namespace: the only key into policy.groups. */
  namespace: string;
  /** The server's Azure name, for messages. */
  serverName: string;
  /** The server exists in Azure (existsInAzure): its history now decides what may change, and in which order. */
  serverExists: boolean;
  observedAuthentication: ObservedAuthentication;
  /** The admin login the server has (forProvider or atProvider administratorLogin); undefined for an Entra-only server. */
  observedAdministratorLogin: string | undefined;
  /** observedAdministrators(req.observed.resources). */
  observedAdministrators: readonly ObservedAdministrator[];
  protectFromDeletion: boolean;
}

export type EntraWarningReason = "ChangeRefused" | "AuthenticationStaged" | "PasswordSignInOff" | "PasswordAdminAdded" | "EntraAdminLeftInAzure";

export interface EntraPlan {
  /** The server's forProvider.authentication. */
  authentication: Authentication;
  /** Administrators to compose, by composition key (entraAdministrator(plan, group, tenantId) each), keys sorted. */
  administrators: Record<string, { group: EntraGroup; tenantId: string }>;
  /**
   * Emit forProvider.administratorLogin and administratorPasswordSecretRef. False only for a server created, or to be
   * created, without a password admin while password sign-in stays off: Azure refuses a login at creation when password
   * sign-in is off, and the provider refuses to add one later unless password sign-in is turned on with it.
   */
  passwordAdmin: boolean;
  /** For Warning results, by reason; ChangeRefused ones belong in the ChangesApplied condition. */
  warnings: Array<{ reason: EntraWarningReason; message: string }>;
}

/**
 * The authentication of one server and its Entra administrators, for the policy and what the server has. Call it once
 * entraRefusals found nothing. Day-2 rules:
 * - Password sign-in can be turned off on an existing server in place (authentication is not ForceNew; the provider
 *   PATCHes it), and the admin login stays. It is turned off only once the group's administrator is ready, and Entra ID
 *   only once password sign-in is on and no administrator is left, so the server never lacks an admin who can sign in.
 * - An administrator's principalName and tenantId cannot change (ForceNew): the ones Azure has are kept.
 */
export function entraPlan(input: EntraPlanInput): EntraPlan {
  const warnings: EntraPlan["warnings"] = [];
  const at: Context = {
    ...input,
    // Azure's defaults, for a server that reports no authentication block.
    hadEntra: input.serverExists && (input.observedAuthentication.activeDirectoryAuthEnabled ?? false),
    hadPassword: input.serverExists && (input.observedAuthentication.passwordAuthEnabled ?? true),
    warn: (reason, message) => warnings.push({ reason, message }),
  };
  const admins = planAdministrators(at);
  const entra = entraSignIn(at, admins.leaving);
  const password = passwordSignIn(at, admins.wanted, admins.wantedReady);
  const passwordAdmin = planPasswordAdmin(at, password);
  const tenantId = entraOn(at.policy.mode) ? at.policy.tenantId : (at.observedAuthentication.tenantId ?? at.policy.tenantId);
  return { authentication: block(entra, password, tenantId), administrators: sortKeys(admins.compose), passwordAdmin, warnings };
}

interface Context extends EntraPlanInput {
  hadEntra: boolean;
  hadPassword: boolean;
  warn: (reason: EntraWarningReason, message: string) => void;
}

/**
 * The namespace's group, with what Azure has where it cannot change, and the administrators of other groups while they
 * are still needed: a replaced one until its successor is ready, any while Entra ID is the only way in.
 */
function planAdministrators(at: Context) {
  const compose: EntraPlan["administrators"] = {};
  const group = at.policy.groups[at.namespace];
  const wanted = entraOn(at.policy.mode) && group !== undefined ? canonicalGroup(group) : undefined;
  const current = wanted && at.observedAdministrators.find((a) => a.group.objectId === wanted.objectId);
  if (wanted !== undefined && at.policy.tenantId !== undefined) {
    const tenantId = at.policy.tenantId.toLowerCase();
    let admin = { group: wanted, tenantId };
    if (current !== undefined && (current.group.principalName !== wanted.principalName || current.tenantId !== tenantId)) {
      at.warn(
        "ChangeRefused",
        `policy authentication.groups.${at.namespace}: the Entra administrator ${wanted.objectId} of server ${at.serverName} was created as ` +
          `${JSON.stringify(current.group.principalName)} in tenant ${current.tenantId}, ` +
          `not ${JSON.stringify(wanted.principalName)} in tenant ${tenantId}; Azure cannot change an administrator, so it stays; ` +
          "to rename it, make another group the administrator, then this one again",
      );
      admin = { group: current.group, tenantId: current.tenantId };
    }
    compose[entraAdminKey(wanted.objectId)] = admin;
  }
  const wantedReady = current?.ready ?? false;

  const others = at.observedAdministrators.filter((a) => a.group.objectId !== wanted?.objectId);
  const keepOthers = entraOn(at.policy.mode) ? !wantedReady : entraOnlyWayIn(at);
  const leaving = keepOthers ? [] : others;
  for (const other of keepOthers ? others : []) {
    compose[entraAdminKey(other.group.objectId)] = { group: other.group, tenantId: other.tenantId };
    if (wanted !== undefined) {
      at.warn("AuthenticationStaged", `the Entra administrator ${describe(other.group)} of server ${at.serverName} stays until ${describe(wanted)}, which replaces it, is ready`);
    }
  }
  for (const other of at.protectFromDeletion ? leaving : []) {
    at.warn(
      "EntraAdminLeftInAzure",
      `the Entra group ${describe(other.group)} is no longer an administrator the DBA policy wants on server ${at.serverName}, ` +
        "but servers are protected from deletion (protectFromDeletion), so it stays an administrator in Azure until the DBA team removes it " +
        "(az postgres flexible-server microsoft-entra-admin delete)",
    );
  }
  return { compose, wanted, wantedReady, leaving };
}

const entraOnlyWayIn = (at: Context) => at.hadEntra && !at.hadPassword;

/** Entra ID turns off only once password sign-in is on and the administrators, which need it, have left. */
function entraSignIn(at: Context, leaving: readonly ObservedAdministrator[]): boolean {
  if (entraOn(at.policy.mode) || !at.hadEntra) return entraOn(at.policy.mode);
  if (entraOnlyWayIn(at)) {
    at.warn("AuthenticationStaged", `authentication: Entra ID sign-in stays on for server ${at.serverName} until password sign-in is on, so it always has an admin who can sign in`);
    return true;
  }
  if (leaving.length > 0) {
    at.warn("AuthenticationStaged", `authentication: Entra ID sign-in on server ${at.serverName} turns off once its Entra administrators are removed`);
    return true;
  }
  return false;
}

/** Password sign-in turns off only once the group's administrator is ready. */
function passwordSignIn(at: Context, wanted: EntraGroup | undefined, wantedReady: boolean): boolean {
  if (passwordOn(at.policy.mode) || !at.hadPassword) return passwordOn(at.policy.mode);
  if (!wantedReady) {
    const who = wanted === undefined ? "the namespace's Entra administrator" : `the Entra administrator ${describe(wanted)}`;
    at.warn("AuthenticationStaged", `authentication: password sign-in stays on for server ${at.serverName} until ${who} is ready, so it always has an admin who can sign in`);
    return true;
  }
  const login =
    at.observedAdministratorLogin === undefined
      ? ""
      : `; admin login ${at.observedAdministratorLogin} stays, as Azure keeps it for the server's life, but signs in only if the DBA policy turns passwords on again`;
  at.warn("PasswordSignInOff", `authentication: password sign-in on server ${at.serverName} turns off (authentication.mode EntraId): every role signs in with Entra tokens only${login}`);
  return false;
}

/** A login once set stays for the server's life; one is added only together with password sign-in. */
function planPasswordAdmin(at: Context, password: boolean): boolean {
  if (!at.serverExists) return password;
  if (at.observedAdministratorLogin !== undefined) return true;
  if (password) {
    at.warn("PasswordAdminAdded", `authentication: server ${at.serverName} was created without a password admin; password sign-in needs one, so the policy's administratorLogin is added`);
  }
  return password;
}

/** Object ids as Azure returns them (lower case), so the provider never sees a case-only difference as a replacement. */
const canonicalGroup = (g: EntraGroup): EntraGroup => ({ objectId: g.objectId.toLowerCase(), principalName: g.principalName });
const describe = (g: EntraGroup) => `${JSON.stringify(g.principalName)} (${g.objectId})`;

// ---- builder ---------------------------------------------------------------------------------------------------

/**
 * The group as the server's Entra administrator. No external-name: the provider names it by its ARM id, built from
 * resourceGroupName, the server's name and objectId (TemplatedStringAsIdentifier without a name), and writes that id
 * into the annotation once created; an administrator that already exists for the group is adopted, not duplicated.
 */
export function entraAdministrator(plan: ServerPlan, group: EntraGroup, tenantId: string) {
  return {
    apiVersion: FLEXIBLE_SERVER_API,
    kind: ADMINISTRATOR_KIND,
    metadata: metadata(plan),
    spec: {
      // As the server's: a protected server keeps its admins when its Database is deleted, or it could be left with
      // no one able to sign in (password sign-in off).
      managementPolicies: plan.protectFromDeletion ? ["Observe", "Create", "Update"] : ["Observe", "Create", "Update", "Delete"],
      providerConfigRef: plan.providerConfigRef,
      forProvider: {
        objectId: group.objectId.toLowerCase(),
        principalName: group.principalName,
        principalType: "Group",
        resourceGroupName: plan.resourceGroupName,
        // The server this XR controls, by its external name, as the other dependents find it.
        serverNameSelector: { matchControllerRef: true },
        tenantId: tenantId.toLowerCase(),
      },
    },
  };
}
