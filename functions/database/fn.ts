// RunFunction for Database: request in, response out, no I/O. Policy comes from the step input, never the XR.
import { Ready, type Resource, type RunFunctionRequest, type RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { DEFAULT_TTL, condition, fatalResponse, result } from "../shared/results.ts";
import { cachedSafeParse } from "../shared/input-cache.ts";
import { sortKeys } from "../shared/sort-keys.ts";
import { describeIssues } from "../shared/zod-errors.ts";
import { cloneOf } from "../shared/rotation-contract.ts";
import { alertsRefusals, monitoring } from "./alerts.ts";
import { entraAdministrator, entraPlan, entraRefusals, observedAdministrators } from "./entra.ts";
import { adoptionPlan, restorePlan, restoreRequirement } from "./restore.ts";
import { SECRET_KEY, composedSecret, plannedSecrets } from "./secrets.ts";
import {
  STAGED_PASSWORD_KEY,
  SWITCH_ANNOTATION,
  SWITCH_VALUE,
  adminSecretNameFor,
  applicationRole,
  roleSyncSecretNameFor,
  applicationRoleName,
  databaseGrant,
  publicSchemaGrant,
  roleStage,
} from "./app-role.ts";
import { extensionParameters, extensionRefusals, sqlExtension, sqlProviderConfig } from "./extensions.ts";
import { RESERVED_DATABASES, storageGbForMb, storageMbForGb, storageTier } from "./azure.ts";
import { serverName, tags } from "./naming.ts";
import { existsInAzure, isReady, observed, observedFrom, read, secretValue, type Observed } from "./observed.ts";
import { generatePassword } from "../shared/password.ts";
import { DatabasePolicy } from "./policy.ts";
import {
  FLEXIBLE_SERVER_API,
  flexibleServer,
  flexibleServerConfiguration,
  flexibleServerDatabase,
  type ServerPlan,
} from "./resources.ts";
import { DatabaseXR, defaultDatabaseName } from "./xr.ts";

const parseDatabasePolicy = cachedSafeParse(DatabasePolicy);

export const KEY = {
  server: "server",
  secret: SECRET_KEY.connection,
  /** The SecretRotation that marked the connection Secret as its own, looked up to see that it still exists. */
  rotation: "secret-rotation",
  /** provider-sql's connection to the server, as its admin. */
  sqlProviderConfig: "sql-provider-config",
  extension: (database: string, extension: string) => `extension-${database}-${extension}`,
  database: (name: string) => `database-${name}`,
  /** The admin's Secret, when apps connect as the application role (app-role.ts). */
  adminSecret: SECRET_KEY.admin,
  adminRotation: "admin-secret-rotation",
  applicationRole: "application-role",
  /** The Secret provider-sql writes the role's password to while it syncs it (looked up, never composed). */
  roleSync: "role-sync-secret",
  databaseGrant: (database: string) => `grant-${database}`,
  schemaGrant: (database: string) => `grant-${database}-public-schema`,
  parameter: (name: string) => `parameter-${name}`,
};

export interface DatabaseDeps {
  newPassword: (length: number, login: string) => string;
  /** The clock a restore's point in time is checked against. */
  now?: () => Date;
}

const DEFAULT_DEPS: DatabaseDeps = { newPassword: (length, login) => generatePassword({ length, avoid: [login] }) };

export function runDatabase(req: RunFunctionRequest, deps: DatabaseDeps = DEFAULT_DEPS): RunFunctionResponse {
  const policyParse = parseDatabasePolicy(req.input);
  if (!policyParse.success) {
    return fatalResponse(req, "InvalidPolicy", `the Composition's DatabasePolicy input is invalid: ${describeIssues("", policyParse.error)}`);
  }
  const policy = policyParse.data;

  const xrParse = DatabaseXR.safeParse(req.observed?.composite?.resource);
  if (!xrParse.success) {
    return fatalResponse(req, "InvalidSpec", `the Database is invalid: ${describeIssues("", xrParse.error)}`);
  }
  const xr = xrParse.data;
  const spec = xr.spec;

  // Every policy refusal at once, so an engineer fixes them in one push; Crossplane shows the message of one Fatal
  // result, so they are joined into it.
  const server = observed(req, KEY.server);
  const refusals = policyRefusals(policy, xr, server);
  const size = policy.sizes[spec.size];
  const name = serverName(policy, xr);
  const tagSet = tags(policy, xr);
  if (refusals.length > 0 || size === undefined || !name.ok || !tagSet.ok) {
    return fatalResponse(req, refusals[0]?.reason ?? "InvalidSpec", refusals.map((r) => r.message).join("; "));
  }
  // An existing server the DBA policy hands to this Database (restore.ts): observed first, then taken over as it is.
  const adoption = adoptionPlan({ adopt: policy.adopt, xr, server });
  if (adoption.kind === "Refused") return fatalResponse(req, adoption.reason, adoption.message);
  const adopting = adoption.kind === "Adopt" ? adoption : undefined;
  // What Azure reports of an adopted server once the provider found it: its create-only fields stay as they are.
  const azureHas = adopting?.phase === "Manage" ? adopting.current : {};
  if (adopting?.phase === "Manage" && azureHas.delegatedSubnetId === undefined) {
    const message =
      `adopt["${xr.metadata.namespace}/${xr.metadata.name}"]: server ${adopting.externalName} has no delegated subnet: it takes connections from public networks, ` +
      "and the DBA policy's servers are private (network.delegatedSubnetId), which Azure cannot change on an existing server; it cannot be adopted";
    return fatalResponse(req, "AdoptionRefused", message);
  }

  // A point-in-time restore of another Database of this namespace (restore.ts): looked up, checked, then create-only.
  const restoreLookup = restoreRequirement(xr);
  const restore = restorePlan({
    xr,
    required: req.requiredResources ?? {},
    server,
    policy,
    adopt: policy.adopt,
    subscriptionId: policy.subscriptionId ?? policy.alerts?.subscriptionId,
    now: (deps.now ?? (() => new Date()))(),
  });
  if (restore.kind === "Refused") return fatalResponse(req, restore.reason, restore.message);
  if (restore.kind === "Lookup" || restore.kind === "Waiting") {
    const message = restore.kind === "Waiting" ? restore.message : `looking up Database ${spec.restoreFrom?.database ?? ""} to restore from`;
    return restorePending(req, restoreLookup, message);
  }
  const restoring = restore.kind === "Restore" ? restore : undefined;

  // Defaults apply at creation only: a DBA raising the default version or a size's storage must not upgrade or
  // grow every existing server that never asked for it.
  const was = server.forProvider;
  const created = existsInAzure(server);
  // An adopted server's version and storage are what Azure reports, not what was sent while it was only observed.
  const currentVersion = azureHas.version ?? maxDefined(read.str(was.version), read.str(server.atProvider.version));
  const emittedMb = azureHas.storageMb ?? read.num(was.storageMb);
  // A restored server runs its source's version, on at least its source's storage.
  const version = (created ? undefined : restoring?.onCreate?.version) ?? spec.version ?? (created ? currentVersion : undefined) ?? policy.versions.default;
  const restoredGB = created ? undefined : restoring?.onCreate?.storageGB;
  const plannedGB = spec.storageGB ?? (created && emittedMb !== undefined ? storageGbForMb(emittedMb) : size.storageGB);
  const storageGB = restoredGB !== undefined ? Math.max(restoredGB, plannedGB) : plannedGB;
  const databases = spec.databases ?? [defaultDatabaseName(xr.metadata.name)];

  const results: RunFunctionResponse["results"] = [];
  const refuse = (message: string) => results.push(result("Warning", "ChangeRefused", message));
  for (const w of restore.warnings) refuse(w);

  // Immutable fields: once the server exists in Azure, keep what it was created with and say why, so the managed
  // resource never asks the provider for a change Azure cannot make (it would stay Synced=False for ever). Before
  // that (e.g. a create that failed because the name was taken) the DBAs can still change anything.
  const keep = <T extends string | boolean>(field: string, wanted: T, current: unknown, why: string): T => {
    if (!created || current === undefined || current === wanted) return wanted;
    refuse(`${field}: the server was created with ${JSON.stringify(current)}, not ${JSON.stringify(wanted)}; ${why}, so it stays`);
    return current as T;
  };
  const observedName = read.str(server.annotations["crossplane.io/external-name"]);
  const finalName = keep("server name", adopting?.externalName ?? name.value, observedName, "Azure server names cannot change");
  const location = keep("policy location", policy.location, azureHas.location ?? read.str(was.location), "Azure cannot move a server");
  const wantedGroup = adopting?.resourceGroupName ?? policy.resourceGroupName;
  const resourceGroupName = keep("policy resourceGroupName", wantedGroup, azureHas.resourceGroupName ?? read.str(was.resourceGroupName), "Azure cannot move a server to another resource group");
  const subnet = keep(
    "policy network.delegatedSubnetId",
    policy.network.delegatedSubnetId,
    azureHas.delegatedSubnetId ?? read.str(was.delegatedSubnetId),
    "Azure cannot move a server to another subnet",
  );
  // A restored server took its admin login and backup redundancy from its source, whatever was sent; an adopted one has
  // its own.
  const fromAzure = restoring !== undefined || adopting?.phase === "Manage";
  const geoNow = (fromAzure ? read.bool(server.atProvider.geoRedundantBackupEnabled) : undefined) ?? read.bool(was.geoRedundantBackupEnabled);
  const loginNow = azureHas.administratorLogin ?? read.str(was.administratorLogin) ?? (fromAzure ? read.str(server.atProvider.administratorLogin) : undefined);
  const geo = keep("policy backup.geoRedundant", policy.backup.geoRedundant, geoNow, "geo-redundant backup is chosen at creation only");
  const login = keep("policy administratorLogin", policy.administratorLogin, loginNow, "the admin login is fixed for the server's life");

  let finalVersion = version;
  if (created && currentVersion !== undefined && Number(version) < Number(currentVersion)) {
    refuse(`spec.version: "${version}" would downgrade the server from "${currentVersion}"; PostgreSQL cannot be downgraded in place, so it stays on "${currentVersion}"`);
    finalVersion = currentVersion;
  }

  const wantedMb = storageMbForGb(storageGB);
  if (created && emittedMb !== undefined && wantedMb < emittedMb) {
    refuse(`spec.storageGB: ${storageGB} is less than the server's ${storageGbForMb(emittedMb)}; storage can only grow, so it stays at ${storageGbForMb(emittedMb)}`);
  }
  // Auto-grow can enlarge the disk behind our back; never ask for less than Azure has.
  const storageMb = created ? Math.max(wantedMb, emittedMb ?? 0, read.num(server.atProvider.storageMb) ?? 0) : wantedMb;

  let haMode: ServerPlan["highAvailabilityMode"] = spec.highAvailability ? policy.highAvailability.mode : undefined;
  const observedHa = azureHas.highAvailabilityMode ?? read.str(read.obj(was.highAvailability).mode);
  if (created && haMode !== undefined && observedHa !== undefined && observedHa !== haMode) {
    refuse(`policy highAvailability.mode: the server runs ${observedHa}; Azure cannot switch to ${haMode} directly (disable high availability, then enable it), so it stays ${observedHa}`);
    haMode = observedHa as ServerPlan["highAvailabilityMode"];
  }

  // Crossplane keeps a composed resource's name once it exists, so a new connectionSecretName would only make the
  // server reference a Secret that never appears.
  const secret = observed(req, KEY.secret);
  const wantedSecretName = spec.connectionSecretName ?? `${xr.metadata.name}-db`;
  const observedSecretName = read.str(read.obj(secret.resource.metadata).name);
  let secretName = wantedSecretName;
  if (observedSecretName !== undefined && observedSecretName !== wantedSecretName) {
    refuse(`spec.connectionSecretName: the connection Secret is ${JSON.stringify(observedSecretName)}, not ${JSON.stringify(wantedSecretName)}; Crossplane cannot rename a composed resource, so it stays`);
    secretName = observedSecretName;
  }

  // Sign-in: passwords, Entra ID or both, staged so a server never loses its last way in (entra.ts).
  const observedAuth = read.obj(server.atProvider.authentication);
  const entra = entraPlan({
    policy: policy.authentication,
    namespace: xr.metadata.namespace,
    serverName: finalName,
    serverExists: created,
    observedAuthentication: {
      activeDirectoryAuthEnabled: read.bool(observedAuth.activeDirectoryAuthEnabled),
      passwordAuthEnabled: read.bool(observedAuth.passwordAuthEnabled),
      tenantId: read.str(observedAuth.tenantId),
    },
    observedAdministratorLogin: read.str(was.administratorLogin) ?? read.str(server.atProvider.administratorLogin),
    observedAdministrators: observedAdministrators(req.observed?.resources ?? {}),
    protectFromDeletion: policy.protectFromDeletion,
  });
  for (const w of entra.warnings) results.push(result("Warning", w.reason, w.message));

  const plan: ServerPlan = {
    namespace: xr.metadata.namespace,
    team: spec.team,
    name: finalName,
    location,
    resourceGroupName,
    skuName: size.skuName,
    version: finalVersion,
    storageMb,
    storageTier: storageTier(storageMb, azureHas.storageTier ?? read.str(was.storageTier)),
    autoGrow: policy.storage.autoGrow,
    backupRetentionDays: policy.backup.retentionDays,
    geoRedundantBackup: geo,
    highAvailabilityMode: haMode,
    zone: policy.zone,
    delegatedSubnetId: subnet,
    privateDnsZoneId: keep("policy network.privateDnsZoneId", policy.network.privateDnsZoneId, azureHas.privateDnsZoneId, "Azure cannot move a server to another private DNS zone"),
    administratorLogin: login,
    passwordAdmin: entra.passwordAdmin,
    authentication: entra.authentication,
    maintenanceWindow: policy.maintenanceWindow,
    tags: tagSet.value,
    providerConfigRef: policy.providerConfigRef,
    protectFromDeletion: policy.protectFromDeletion,
    secretName,
    ...(restoring !== undefined
      ? { restore: { initProvider: { ...restoring.initProvider }, annotations: restoring.annotations, omitOnCreate: restoring.onCreate?.omit ?? [] } }
      : {}),
  };

  // Until the provider has found an adopted server, it is only observed, and nothing else is composed.
  if (adopting?.phase === "Observe") return adoptionPending(req, plan, adopting.message);

  // Databases: removing one from the list would drop its data, so it is kept unless the policy allows deletion.
  const existing = Object.entries(req.observed?.resources ?? {})
    .filter(([k, r]) => k.startsWith("database-") && r.resource?.kind === "FlexibleServerDatabase" && r.resource?.apiVersion === FLEXIBLE_SERVER_API)
    .map(([, r]) => read.str(read.obj(read.obj(r.resource?.metadata).annotations)["crossplane.io/external-name"]))
    .filter((d): d is string => d !== undefined);
  const kept = policy.allowDatabaseDeletion ? [] : existing.filter((d) => !databases.includes(d));
  for (const d of kept) refuse(`spec.databases: "${d}" was removed from the list, but deleting a database deletes its data; the DBA policy does not allow it, so it stays`);
  const allDatabases = [...databases, ...kept.sort()];

  const desired: Record<string, Resource> = {};
  const track: Array<{ key: string; label: string }> = [];
  const compose = (key: string, label: string, resource: Record<string, unknown>, ready: boolean, tracked = true) => {
    desired[key] = { resource, connectionDetails: {}, ready: ready ? Ready.READY_TRUE : Ready.READY_FALSE };
    if (tracked) track.push({ key, label });
  };

  // The Secrets: the one apps read and, once apps connect as the application role, the admin's (app-role.ts).
  // Passwords are generated once and re-emitted from the observed Secrets on every later call. Whenever a Secret is
  // not among the observed resources, it is first looked up by name (composedSecret). Only when it is really gone, or
  // holds no password, is a new one generated; a reset of a password in use is reported as one.
  const connection = composedSecret(req, { key: KEY.secret, rotationKey: KEY.rotation, name: plan.secretName, namespace: plan.namespace, lookUp: true });
  const connectionNow = { exists: connection.current.exists, username: secretValue(connection.current, "username"), password: secretValue(connection.current, "password") };
  const appRoleName = applicationRoleName(xr.metadata.name);
  const policyWantsRole = policy.applicationRole.enabled && plan.passwordAdmin && plan.authentication.passwordAuthEnabled;
  const adminSecretName = adminSecretNameFor(plan.secretName);
  // With the role off, the admin Secret matters only to a Database whose apps already read someone else than the admin.
  const adminLookUp = policyWantsRole || (plan.passwordAdmin && connectionNow.username !== undefined && connectionNow.username !== plan.administratorLogin);
  const adminSecret = composedSecret(req, { key: KEY.adminSecret, rotationKey: KEY.adminRotation, name: adminSecretName, namespace: plan.namespace, lookUp: adminLookUp });
  // Someone else's Secret under the admin Secret's name: a new Database is refused (below), an existing one keeps
  // working without the role, and says why.
  const adminTaken = adminSecret.taken(xr.metadata);
  const wanted = policyWantsRole && !(adminTaken && created);
  if (policyWantsRole && adminTaken && created) {
    results.push(
      result(
        "Warning",
        "ApplicationRoleUnavailable",
        `Secret ${adminSecretName} already exists in namespace ${plan.namespace} and does not belong to this Database, so its admin cannot move there and apps keep connecting as the admin; rename or delete that Secret`,
      ),
    );
  }
  const role = observed(req, KEY.applicationRole);
  // What provider-sql wrote when it last set the role's password (asked for while an existing Database is staged).
  const roleSyncName = roleSyncSecretNameFor(plan.secretName);
  const roleSynced = observedFrom(req.requiredResources?.[KEY.roleSync]?.items[0]?.resource);
  const grantKeys = allDatabases.flatMap((d) => [KEY.databaseGrant(d), KEY.schemaGrant(d)]);
  const stage = roleStage({
    wanted,
    roleName: appRoleName,
    adminLogin: plan.administratorLogin,
    serverReady: isReady(server),
    connection: connectionNow,
    connectionPasswordRotated: connection.heldKeys.includes("password"),
    adminSecret: { exists: adminSecret.current.exists, password: secretValue(adminSecret.current, "password"), stagedPassword: secretValue(adminSecret.current, STAGED_PASSWORD_KEY) },
    role: { exists: role.exists, ready: isReady(role) },
    roleSyncedPassword: secretValue(roleSynced, "password"),
    grantsReady: grantKeys.every((k) => isReady(observed(req, k))),
    switchApproved: xr.metadata.annotations[SWITCH_ANNOTATION] === SWITCH_VALUE,
  });
  const split = stage.kind === "Split";
  plan.adminPasswordSecretName = split ? adminSecretName : plan.secretName;

  compose(KEY.server, `FlexibleServer ${plan.name}`, flexibleServer(plan), isReady(server));
  for (const d of allDatabases) {
    compose(KEY.database(d), `FlexibleServerDatabase ${d}`, flexibleServerDatabase(plan, d), isReady(observed(req, KEY.database(d))));
  }
  // Extensions: allow-listed and, where they need it, preloaded on the server, then created in every database.
  const extensions = spec.extensions ?? [];
  const emittedParameter = (name: string) => read.str(observed(req, KEY.parameter(name)).forProvider.value);
  const { parameters, restart } = extensionParameters({
    serverParameters: policy.serverParameters,
    extensions,
    emitted: { azureExtensions: emittedParameter("azure.extensions"), sharedPreloadLibraries: emittedParameter("shared_preload_libraries") },
    serverExists: created,
  });
  if (restart !== undefined) {
    results.push(
      result(
        "Warning",
        "ServerRestart",
        `spec.extensions: shared_preload_libraries of server ${plan.name} changes from "${restart.from}" to "${restart.to}"; it is a static parameter, so the provider ` +
          "restarts the server to apply it (a few minutes without connections), unless its ProviderConfig sets " +
          "features.postgreSQLFlexibleServer.restartServerOnConfigurationValueChange: false, and then it applies at the server's next restart",
      ),
    );
  }
  for (const [param, value] of Object.entries(sortKeys(parameters))) {
    const key = KEY.parameter(param);
    compose(key, `FlexibleServerConfiguration ${param}`, flexibleServerConfiguration(plan, param, value), isReady(observed(req, key)));
  }

  // provider-sql connects as the server's admin, for the extensions and the application role.
  const providerConfigName = `${xr.metadata.name}-sql`;
  if (extensions.length > 0 || stage.kind !== "Off") {
    const sqlAdminSecret = split || (stage.kind === "Migrating" && adminSecret.current.exists) ? adminSecretName : plan.secretName;
    // Made for a role the apps do not use yet, it does not hold an existing Database back.
    const staging = stage.kind === "Migrating" && extensions.length === 0;
    const made = observed(req, KEY.sqlProviderConfig).exists;
    compose(KEY.sqlProviderConfig, `ProviderConfig ${providerConfigName}`, sqlProviderConfig(plan, providerConfigName, sqlAdminSecret), staging || made, !staging);
  }
  for (const d of extensions.length > 0 ? allDatabases : []) {
    for (const e of [...extensions].sort()) {
      const key = KEY.extension(d, e);
      compose(key, `Extension ${e} in ${d}`, sqlExtension(plan, providerConfigName, e, d), isReady(observed(req, key)));
    }
  }
  if (stage.kind !== "Off" && stage.composeRole) {
    // While an existing Database moves over, the role is not what its apps use yet: it does not hold the Database back.
    const staging = stage.kind === "Migrating";
    const ready = (o: Observed) => staging || isReady(o);
    const passwordFrom = split ? { name: plan.secretName, key: "password" } : { name: adminSecretName, key: STAGED_PASSWORD_KEY };
    // While staged, and until a new Database's role is ready, provider-sql also sets the password of a role that exists
    // already; never while apps read the role's _clone (an alternating SecretRotation's), whose password is not the role's.
    const readsClone = connectionNow.username === cloneOf(appRoleName);
    const syncTo = staging || (!isReady(role) && !readsClone) ? roleSyncName : undefined;
    compose(KEY.applicationRole, `Role ${appRoleName}`, applicationRole(plan, providerConfigName, appRoleName, passwordFrom, syncTo), ready(role), !staging);
    for (const d of allDatabases) {
      const onDatabase = observed(req, KEY.databaseGrant(d));
      const onSchema = observed(req, KEY.schemaGrant(d));
      compose(KEY.databaseGrant(d), `Grant on database ${d}`, databaseGrant(plan, providerConfigName, appRoleName, d), ready(onDatabase), !staging);
      compose(KEY.schemaGrant(d), `Grant on schema public of ${d}`, publicSchemaGrant(plan, providerConfigName, appRoleName, d), ready(onSchema), !staging);
    }
  }
  // A new Database's role waits for its server: the Database is not ready without it.
  if (stage.kind === "Split" && !stage.composeRole) track.push({ key: KEY.applicationRole, label: `Role ${appRoleName}` });

  for (const [key, { group, tenantId }] of Object.entries(entra.administrators)) {
    compose(key, `FlexibleServerActiveDirectoryAdministrator ${group.principalName}`, entraAdministrator(plan, group, tenantId), isReady(observed(req, key)));
  }
  if (policy.alerts !== undefined) {
    const watch = monitoring({ plan, alerts: policy.alerts, serverParameters: policy.serverParameters });
    for (const [key, resource] of Object.entries(watch.resources)) {
      const name = read.str(read.obj(read.obj(resource.metadata).annotations)["crossplane.io/external-name"]) ?? "";
      compose(key, `${String(resource.kind)} ${name}`.trim(), resource, isReady(observed(req, key)));
    }
    for (const w of watch.warnings) results.push(result("Warning", "AlertLeftOut", w));
  }


  // Asked also in the response that switches, so that the calls of one reconcile ask the same (Crossplane calls until
  // two in a row do).
  const staged = stage.kind === "Migrating" || (stage.kind === "Split" && stage.switching);
  const roleSyncLookup = staged ? { [KEY.roleSync]: { apiVersion: "v1", kind: "Secret", matchName: roleSyncName, namespace: plan.namespace } } : {};
  const lookups = { ...connection.lookups, ...adminSecret.lookups, ...roleSyncLookup, ...restoreLookup };
  // Asked on every call while needed, so the requirements repeat and Crossplane stops calling.
  const requirements: RunFunctionResponse["requirements"] = Object.keys(lookups).length > 0 ? { extraResources: {}, schemas: {}, resources: lookups } : undefined;
  for (const [s, name] of [[connection, plan.secretName], [adminSecret, adminSecretName]] as const) {
    if (s.rotationGone) {
      results.push(result("Normal", "RotationRemoved", `SecretRotation ${s.rotatedBy} no longer exists; the Database applies ${s.markedKeys.join(", ")} of Secret ${name} again, as they are`));
    }
    if (s.taken(xr.metadata) && !(s === adminSecret && created)) {
      const field = name === plan.secretName ? "spec.connectionSecretName" : "spec.connectionSecretName (its admin Secret)";
      return fatalResponse(
        req,
        "ConnectionSecretTaken",
        `${field}: Secret ${name} already exists in namespace ${plan.namespace} and does not belong to this Database; Crossplane would take it over and overwrite its keys. Choose another name, or delete that Secret if it is unused`,
      );
    }
  }

  if (stage.kind === "Migrating") {
    results.push(
      result(
        "Normal",
        "ApplicationRoleMigrating",
        `apps still connect to server ${plan.name} as its admin; Secret ${plan.secretName} switches to role ${appRoleName} once it is ready (waiting for ${stage.waitingFor})`,
      ),
    );
  }
  if (stage.kind === "Split" && stage.switching) {
    results.push(result("Normal", "ApplicationRoleSwitched", `Secret ${plan.secretName} now holds role ${appRoleName}; the server admin's credentials are in Secret ${adminSecretName}`));
  }

  const awaitingLookup = connection.awaitingLookup || adminSecret.awaitingLookup;
  if (!awaitingLookup) {
    const host = read.str(server.atProvider.fqdn) ?? `${plan.name}.postgres.database.azure.com`;
    const planned = plannedSecrets({
      plan,
      stage,
      connection,
      adminSecret,
      adminSecretName,
      roleName: appRoleName,
      roleExists: role.exists,
      serverExists: created,
      databaseName: xr.metadata.name,
      connectTo: { host, database: allDatabases[0] ?? "postgres" },
      entraGroup: policy.authentication.groups[plan.namespace]?.principalName ?? "",
      newPassword: () => deps.newPassword(policy.passwordLength, plan.administratorLogin),
    });
    results.push(...planned.warnings.map((w) => result("Warning", w.reason, w.message)));
    for (const { key, name, state, data, staging } of planned.secrets) {
      // Keys a SecretRotation took over are left to it: re-applying them would write an old value back, and would take
      // their ownership back from the rotation (Crossplane applies with force).
      const held = { ...data, data: Object.fromEntries(Object.entries(data.data).filter(([k]) => !state.heldKeys.includes(k))) };
      const secretReady = state.current.exists && secretValue(state.current, "host") !== undefined;
      compose(key, `Secret ${name}`, held, secretReady || staging === true, staging !== true);
    }
  }

  const waiting = track.filter(({ key }) => desired[key]?.ready !== Ready.READY_TRUE).map(({ key, label }) => `${label}: ${describeWait(observed(req, key))}`);
  const missingSecret = awaitingLookup;
  const ready = waiting.length === 0 && !missingSecret;

  const priorResources = req.desired?.resources ?? {};
  const priorComposite = read.obj(req.desired?.composite?.resource);
  const fqdn = read.str(server.atProvider.fqdn);
  const status = {
    ...read.obj(priorComposite.status),
    serverName: plan.name,
    resourceGroupName: plan.resourceGroupName,
    ...(fqdn !== undefined ? { fqdn } : {}),
    connectionSecretName: plan.secretName,
    version: plan.version,
    storageGB: storageGbForMb(plan.storageMb),
    passwordAuthEnabled: plan.authentication.passwordAuthEnabled,
    ...(split ? { applicationRole: appRoleName, adminSecretName } : {}),
  };
  const refused = results.filter((r) => r.reason === "ChangeRefused");

  return {
    meta: { tag: req.meta?.tag ?? "", ttl: DEFAULT_TTL },
    desired: {
      composite: { resource: { ...priorComposite, status }, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED },
      resources: { ...priorResources, ...desired },
    },
    results,
    conditions: [
      ready
        ? condition("DatabaseReady", true, "Available", `server ${plan.name} and ${allDatabases.length} database(s) are ready; connect with Secret ${plan.secretName}`)
        : condition("DatabaseReady", false, missingSecret ? "ConnectionSecretMissing" : "Creating", missingSecret ? `looking up connection Secret ${plan.secretName}` : `waiting for ${waiting.join("; ")}`),
      refused.length === 0
        ? condition("ChangesApplied", true, "Applied", "the Database spec and the DBA policy are applied")
        : condition("ChangesApplied", false, "ChangeRefused", refused.map((r) => r.message).join("; ")),
    ],
    requirements,
    context: req.context,
  };
}

/**
 * An adopted server the provider has not found yet: composed Observe-only, so the provider looks it up by its name and
 * never creates, changes or deletes it; without its login and password, which only a takeover sets.
 */
function adoptionPending(req: RunFunctionRequest, plan: ServerPlan, message: string): RunFunctionResponse {
  const composed = flexibleServer(plan);
  const { administratorLogin: _login, administratorPasswordSecretRef: _password, ...forProvider } = composed.spec.forProvider;
  const observing = { ...composed, spec: { ...composed.spec, managementPolicies: ["Observe"], forProvider } };
  const priorComposite = read.obj(req.desired?.composite?.resource);
  const status = { ...read.obj(priorComposite.status), serverName: plan.name, resourceGroupName: plan.resourceGroupName };
  return {
    meta: { tag: req.meta?.tag ?? "", ttl: DEFAULT_TTL },
    desired: {
      composite: { resource: { ...priorComposite, status }, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED },
      resources: { ...(req.desired?.resources ?? {}), [KEY.server]: { resource: observing, connectionDetails: {}, ready: Ready.READY_FALSE } },
    },
    results: [],
    conditions: [condition("DatabaseReady", false, "Adopting", message)],
    requirements: undefined,
    context: req.context,
  };
}

/** The source of a restore is not known yet: nothing is composed (a server made now would start empty). */
function restorePending(req: RunFunctionRequest, lookups: Record<string, unknown>, message: string): RunFunctionResponse {
  return {
    meta: { tag: req.meta?.tag ?? "", ttl: DEFAULT_TTL },
    desired: req.desired,
    results: [],
    conditions: [condition("DatabaseReady", false, "RestoreSourcePending", message)],
    requirements: { extraResources: {}, schemas: {}, resources: lookups as NonNullable<RunFunctionResponse["requirements"]>["resources"] },
    context: req.context,
  };
}

function describeWait(o: Observed): string {
  if (!o.exists) return "not created yet";
  if (o.synced?.status === "False") return `not synced: ${o.synced.reason}${o.synced.message ? ` (${o.synced.message})` : ""}`;
  if (o.ready !== undefined) return `${o.ready.reason || "not ready"}${o.ready.message ? ` (${o.ready.message})` : ""}`;
  return "not ready";
}

export interface Refusal {
  reason: string;
  /** Starts with the field it is about (`spec.size …`), where there is one. */
  message: string;
}

/** Every way the Database breaks the DBA policy, in the order of its fields; empty when it keeps it. */
export function policyRefusals(policy: DatabasePolicy, xr: DatabaseXR, server: Observed): Refusal[] {
  const { spec } = xr;
  const out: Refusal[] = [];
  const size = policy.sizes[spec.size];
  if (size === undefined) out.push({ reason: "SizeNotAllowed", message: `spec.size "${spec.size}" is not allowed; choose one of ${Object.keys(policy.sizes).join(", ")}` });
  const created = existsInAzure(server);
  const currentVersion = maxDefined(read.str(server.forProvider.version), read.str(server.atProvider.version));
  const version = spec.version ?? (created ? currentVersion : undefined) ?? policy.versions.default;
  if ((spec.version !== undefined || !created) && !(policy.versions.allowed as readonly string[]).includes(version)) {
    out.push({ reason: "VersionNotAllowed", message: `spec.version "${version}" is not allowed; choose one of ${policy.versions.allowed.join(", ")}` });
  }
  if (spec.storageGB !== undefined && policy.storage.maxGB !== undefined && spec.storageGB > policy.storage.maxGB) {
    out.push({ reason: "StorageNotAllowed", message: `spec.storageGB ${spec.storageGB} exceeds the policy's maximum of ${policy.storage.maxGB}` });
  }
  if (spec.highAvailability && !policy.highAvailability.allowedSizes.includes(spec.size)) {
    const allowed = policy.highAvailability.allowedSizes;
    const sku = size === undefined ? "" : ` (SKU ${size.skuName})`;
    const choose = allowed.length > 0 ? `choose size ${allowed.join(" or ")}, or set highAvailability: false` : "the policy allows it for no size; set highAvailability: false";
    out.push({ reason: "HighAvailabilityNotAllowed", message: `spec.highAvailability is not allowed for size ${spec.size}${sku}; ${choose}` });
  }
  const name = serverName(policy, xr);
  if (!name.ok) out.push({ reason: "InvalidName", message: name.message });
  out.push(...extensionRefusals(policy.extensions, spec.extensions ?? []));
  out.push(...entraRefusals(policy.authentication, xr.metadata.namespace, spec.extensions ?? []));
  out.push(...alertsRefusals(policy.alerts, xr.metadata.namespace));
  const tagSet = tags(policy, xr);
  if (!tagSet.ok) out.push({ reason: "InvalidTags", message: tagSet.message });
  const databases = spec.databases ?? [defaultDatabaseName(xr.metadata.name)];
  if (spec.databases === undefined && RESERVED_DATABASES.includes(databases[0] ?? "")) {
    out.push({ reason: "InvalidSpec", message: `the default database name "${databases[0]}" (from metadata.name) is reserved on every server; set spec.databases` });
  }
  return out;
}

function maxDefined(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Number(b) > Number(a) ? b : a;
}
