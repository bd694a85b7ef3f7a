import { testPlan } from "./plan.fixture.ts";
import { describe, expect, it } from "vitest";
import { azureValidator } from "../../test/support/schema.ts";
import { describeIssues } from "../shared/zod-errors.ts";
import {
  EntraPolicy,
  authenticationBlock,
  entraAdministrator,
  entraPlan,
  entraRefusals,
  observedAdministrators,
  type EntraGroup,
  type EntraPlan,
  type EntraPlanInput,
  type ObservedAdministrator,
} from "./entra.ts";
import { flexibleServer, type ServerPlan } from "./resources.ts";

// ---- builders (kept beside the tests that use them) -------------------------------------------------------

type Json = Record<string, unknown>;

const TENANT = "11111111-2222-3333-4444-555555555555";
const PAYMENTS: EntraGroup = { objectId: "aaaaaaaa-0000-0000-0000-000000000001", principalName: "pg-admins-payments" };
const PAYMENTS_NEW: EntraGroup = { objectId: "aaaaaaaa-0000-0000-0000-000000000002", principalName: "Payments DBAs" };
const SERVER = "pg-payments-orders-prod-edfe87";

function plan(over: Partial<ServerPlan> = {}): ServerPlan {
  return testPlan({ ...over });
}

function policy(mode: EntraPolicy["mode"], groups: Record<string, EntraGroup> = { "team-payments": PAYMENTS }): EntraPolicy {
  return EntraPolicy.parse({ mode, tenantId: TENANT, groups });
}

/** A new server (not in Azure yet) of a Database in team-payments, unless changed. */
function input(over: Partial<EntraPlanInput> = {}): EntraPlanInput {
  return {
    policy: policy("Password"),
    namespace: "team-payments",
    serverName: SERVER,
    serverExists: false,
    observedAuthentication: {},
    observedAdministratorLogin: undefined,
    observedAdministrators: [],
    protectFromDeletion: false,
    ...over,
  };
}

/** An existing server as Azure reports it: its authentication, its admin login, its composed administrators. */
function existing(auth: { entra: boolean; password: boolean }, login: string | undefined, administrators: ObservedAdministrator[] = []): Partial<EntraPlanInput> {
  return {
    serverExists: true,
    observedAuthentication: { activeDirectoryAuthEnabled: auth.entra, passwordAuthEnabled: auth.password, ...(auth.entra ? { tenantId: TENANT } : {}) },
    observedAdministratorLogin: login,
    observedAdministrators: administrators,
  };
}

const admin = (group: EntraGroup, ready = true): ObservedAdministrator => ({ group, tenantId: TENANT, ready });
const administrators = (...groups: EntraGroup[]) =>
  Object.fromEntries(groups.map((group) => [`entra-admin-${group.objectId}`, { group, tenantId: TENANT }]));

const PASSWORD_ONLY = { activeDirectoryAuthEnabled: false, passwordAuthEnabled: true };
const BOTH = { activeDirectoryAuthEnabled: true, passwordAuthEnabled: true, tenantId: TENANT };
const ENTRA_ONLY = { activeDirectoryAuthEnabled: true, passwordAuthEnabled: false, tenantId: TENANT };

const ENVELOPE = { managementPolicies: ["Observe", "Create", "Update", "Delete"], providerConfigRef: { kind: "ClusterProviderConfig", name: "default" } };

function administrator(group: EntraGroup, envelope: Json = ENVELOPE): Json {
  return {
    apiVersion: "dbforpostgresql.azure.m.upbound.io/v1beta1",
    kind: "FlexibleServerActiveDirectoryAdministrator",
    metadata: { namespace: "team-payments", labels: { "azplatform.io/team": "payments" } },
    spec: {
      ...envelope,
      forProvider: {
        objectId: group.objectId,
        principalName: group.principalName,
        principalType: "Group",
        resourceGroupName: "rg-data-prod",
        serverNameSelector: { matchControllerRef: true },
        tenantId: TENANT,
      },
    },
  };
}

/** The server as the wiring will emit it: the plan's authentication, and the admin login only where the plan keeps one. */
function serverWith(p: EntraPlan): Json {
  const server = flexibleServer(plan());
  const { administratorLogin, administratorPasswordSecretRef, ...rest } = server.spec.forProvider;
  const forProvider = { ...rest, ...(p.passwordAdmin ? { administratorLogin, administratorPasswordSecretRef } : {}), authentication: p.authentication };
  return { ...server, spec: { ...server.spec, forProvider } };
}

// ---- entraPlan(): policy and observed server in, authentication, administrators and warnings out ------------

const cases: Record<string, { input: EntraPlanInput; want: EntraPlan }> = {
  PasswordModeByDefault: {
    input: input({ policy: EntraPolicy.parse({}) }),
    want: { authentication: PASSWORD_ONLY, administrators: {}, passwordAdmin: true, warnings: [] },
  },
  PasswordAndEntraIdComposesTheNamespaceGroup: {
    input: input({ policy: policy("PasswordAndEntraId") }),
    want: { authentication: BOTH, administrators: administrators(PAYMENTS), passwordAdmin: true, warnings: [] },
  },
  // Azure refuses administratorLogin at creation when password sign-in is off.
  EntraIdOnNewServerHasNoPasswordAdmin: {
    input: input({ policy: policy("EntraId") }),
    want: { authentication: ENTRA_ONLY, administrators: administrators(PAYMENTS), passwordAdmin: false, warnings: [] },
  },
  // The group is keyed by namespace: spec.team is not an input at all, and another namespace's group is never used.
  EntraIdForTheDatabaseNamespaceOnly: {
    input: input({ policy: policy("EntraId", { "team-payments": PAYMENTS, "team-orders": PAYMENTS_NEW }) }),
    want: { authentication: ENTRA_ONLY, administrators: administrators(PAYMENTS), passwordAdmin: false, warnings: [] },
  },
  // Day 2, Password → EntraId: Entra ID and the administrator first; passwords stay until the administrator is ready.
  EntraIdOnExistingPasswordServerWaitsForTheAdministrator: {
    input: input({ policy: policy("EntraId"), ...existing({ entra: false, password: true }, "pgadmin") }),
    want: {
      authentication: BOTH,
      administrators: administrators(PAYMENTS),
      passwordAdmin: true,
      warnings: [
        {
          reason: "AuthenticationStaged",
          message: `authentication: password sign-in stays on for server ${SERVER} until the Entra administrator "pg-admins-payments" (${PAYMENTS.objectId}) is ready, so it always has an admin who can sign in`,
        },
      ],
    },
  },
  EntraIdOnExistingPasswordServerOnceTheAdministratorIsReady: {
    input: input({ policy: policy("EntraId"), ...existing({ entra: true, password: true }, "pgadmin", [admin(PAYMENTS)]) }),
    want: {
      authentication: ENTRA_ONLY,
      administrators: administrators(PAYMENTS),
      passwordAdmin: true,
      warnings: [
        {
          reason: "PasswordSignInOff",
          message:
            `authentication: password sign-in on server ${SERVER} turns off (authentication.mode EntraId): every role signs in with Entra tokens only; ` +
            "admin login pgadmin stays, as Azure keeps it for the server's life, but signs in only if the DBA policy turns passwords on again",
        },
      ],
    },
  },
  // The login and its password stay in the spec: removing them would ask the provider to clear a password Azure keeps.
  EntraIdSettledOnServerCreatedWithPassword: {
    input: input({ policy: policy("EntraId"), ...existing({ entra: true, password: false }, "pgadmin", [admin(PAYMENTS)]) }),
    want: { authentication: ENTRA_ONLY, administrators: administrators(PAYMENTS), passwordAdmin: true, warnings: [] },
  },
  EntraIdSettledOnServerCreatedWithoutPassword: {
    input: input({ policy: policy("EntraId"), ...existing({ entra: true, password: false }, undefined, [admin(PAYMENTS)]) }),
    want: { authentication: ENTRA_ONLY, administrators: administrators(PAYMENTS), passwordAdmin: false, warnings: [] },
  },
  // Switching a namespace's group: make before break, so the server always has a ready Entra administrator.
  GroupSwitchKeepsTheOldAdministratorUntilTheNewOneIsReady: {
    input: input({ policy: policy("EntraId", { "team-payments": PAYMENTS_NEW }), ...existing({ entra: true, password: false }, undefined, [admin(PAYMENTS)]) }),
    want: {
      authentication: ENTRA_ONLY,
      administrators: administrators(PAYMENTS, PAYMENTS_NEW),
      passwordAdmin: false,
      warnings: [
        {
          reason: "AuthenticationStaged",
          message: `the Entra administrator "pg-admins-payments" (${PAYMENTS.objectId}) of server ${SERVER} stays until "Payments DBAs" (${PAYMENTS_NEW.objectId}), which replaces it, is ready`,
        },
      ],
    },
  },
  GroupSwitchDropsTheOldAdministratorOnceTheNewOneIsReady: {
    input: input({
      policy: policy("EntraId", { "team-payments": PAYMENTS_NEW }),
      ...existing({ entra: true, password: false }, undefined, [admin(PAYMENTS), admin(PAYMENTS_NEW)]),
    }),
    want: { authentication: ENTRA_ONLY, administrators: administrators(PAYMENTS_NEW), passwordAdmin: false, warnings: [] },
  },
  GroupSwitchOnProtectedServersLeavesTheOldAdministratorInAzure: {
    input: input({
      policy: policy("EntraId", { "team-payments": PAYMENTS_NEW }),
      ...existing({ entra: true, password: false }, undefined, [admin(PAYMENTS), admin(PAYMENTS_NEW)]),
      protectFromDeletion: true,
    }),
    want: {
      authentication: ENTRA_ONLY,
      administrators: administrators(PAYMENTS_NEW),
      passwordAdmin: false,
      warnings: [
        {
          reason: "EntraAdminLeftInAzure",
          message:
            `the Entra group "pg-admins-payments" (${PAYMENTS.objectId}) is no longer an administrator the DBA policy wants on server ${SERVER}, but servers are protected ` +
            "from deletion (protectFromDeletion), so it stays an administrator in Azure until the DBA team removes it (az postgres flexible-server microsoft-entra-admin delete)",
        },
      ],
    },
  },
  // Same object id, new display name: every administrator field is ForceNew, so Azure's stays.
  PrincipalNameChangeRefused: {
    input: input({
      policy: policy("PasswordAndEntraId", { "team-payments": { ...PAYMENTS, principalName: "Payments Admins" } }),
      ...existing({ entra: true, password: true }, "pgadmin", [admin(PAYMENTS)]),
    }),
    want: {
      authentication: BOTH,
      administrators: administrators(PAYMENTS),
      passwordAdmin: true,
      warnings: [
        {
          reason: "ChangeRefused",
          message:
            `policy authentication.groups.team-payments: the Entra administrator ${PAYMENTS.objectId} of server ${SERVER} was created as "pg-admins-payments" in tenant ${TENANT}, ` +
            `not "Payments Admins" in tenant ${TENANT}; Azure cannot change an administrator, so it stays; to rename it, make another group the administrator, then this one again`,
        },
      ],
    },
  },
  // Day 2, EntraId → Password on a server created without a password: the login is added with password sign-in, and
  // Entra ID stays on (with its administrator) until password sign-in is on.
  PasswordOnServerCreatedForEntraIdOnly: {
    input: input({ policy: policy("Password"), ...existing({ entra: true, password: false }, undefined, [admin(PAYMENTS)]) }),
    want: {
      authentication: BOTH,
      administrators: administrators(PAYMENTS),
      passwordAdmin: true,
      warnings: [
        {
          reason: "AuthenticationStaged",
          message: `authentication: Entra ID sign-in stays on for server ${SERVER} until password sign-in is on, so it always has an admin who can sign in`,
        },
        {
          reason: "PasswordAdminAdded",
          message: `authentication: server ${SERVER} was created without a password admin; password sign-in needs one, so the policy's administratorLogin is added`,
        },
      ],
    },
  },
  PasswordModeRemovesTheAdministratorsBeforeEntraId: {
    input: input({ policy: policy("Password"), ...existing({ entra: true, password: true }, "pgadmin", [admin(PAYMENTS)]) }),
    want: {
      authentication: BOTH,
      administrators: {},
      passwordAdmin: true,
      warnings: [{ reason: "AuthenticationStaged", message: `authentication: Entra ID sign-in on server ${SERVER} turns off once its Entra administrators are removed` }],
    },
  },
  PasswordModeTurnsEntraIdOffOnceNoAdministratorIsLeft: {
    input: input({ policy: policy("Password"), ...existing({ entra: true, password: true }, "pgadmin") }),
    want: { authentication: PASSWORD_ONLY, administrators: {}, passwordAdmin: true, warnings: [] },
  },
  // Azure returns object ids in lower case; an upper-case one in the spec would read as a replacement.
  IdsInUpperCaseEmittedInLowerCase: {
    input: input({
      policy: EntraPolicy.parse({
        mode: "EntraId",
        tenantId: TENANT.toUpperCase(),
        groups: { "team-payments": { ...PAYMENTS, objectId: PAYMENTS.objectId.toUpperCase() } },
      }),
    }),
    want: { authentication: ENTRA_ONLY, administrators: administrators(PAYMENTS), passwordAdmin: false, warnings: [] },
  },
};

describe("entraPlan", () => {
  const azure = azureValidator();
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const got = entraPlan(c.input);
      expect(got).toEqual(c.want);
      expect(azure.validate(serverWith(got))).toEqual([]);
      for (const [key, a] of Object.entries(got.administrators)) {
        expect({ key, problems: azure.validate(entraAdministrator(plan(), a.group, a.tenantId)) }).toEqual({ key, problems: [] });
      }
    });
  }
});

describe("entraAdministrator", () => {
  const azure = azureValidator();
  const cases: Record<string, { plan: ServerPlan; group: EntraGroup; tenantId: string; want: Json }> = {
    GroupOfTheNamespace: { plan: plan(), group: PAYMENTS, tenantId: TENANT, want: administrator(PAYMENTS) },
    // As the server: a protected server keeps its administrator when its Database is deleted.
    ProtectedServerKeepsItsAdministrator: {
      plan: plan({ protectFromDeletion: true }),
      group: PAYMENTS_NEW,
      tenantId: TENANT.toUpperCase(),
      want: administrator(PAYMENTS_NEW, { ...ENVELOPE, managementPolicies: ["Observe", "Create", "Update"] }),
    },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const got = entraAdministrator(c.plan, c.group, c.tenantId);
      expect(got).toEqual(c.want);
      expect(azure.validate(got)).toEqual([]);
    });
  }
});

describe("authenticationBlock", () => {
  const table: Record<EntraPolicy["mode"], Json> = { Password: PASSWORD_ONLY, EntraId: ENTRA_ONLY, PasswordAndEntraId: BOTH };
  for (const [mode, want] of Object.entries(table) as Array<[EntraPolicy["mode"], Json]>) it(mode, () => expect(authenticationBlock(policy(mode))).toEqual(want));
  // The provider's tenant_id is RequiredWith active_directory_auth_enabled, and Azure takes none with Entra ID off.
  it("PasswordModeOmitsThePolicyTenant", () => expect(authenticationBlock(policy("Password"))).not.toHaveProperty("tenantId"));
});

describe("observedAdministrators", () => {
  const observedAdmin = (group: EntraGroup, ready: string) => ({
    resource: { ...administrator(group), status: { conditions: [{ type: "Synced", status: "True" }, { type: "Ready", status: ready }] } },
  });
  it("ReadsTheEntraAdminKeysOnly", () => {
    const got = observedAdministrators({
      "entra-admin-b": observedAdmin(PAYMENTS_NEW, "False"),
      "entra-admin-a": observedAdmin({ ...PAYMENTS, objectId: PAYMENTS.objectId.toUpperCase() }, "True"),
      server: { resource: flexibleServer(plan()) },
      "entra-admin-c": { resource: flexibleServer(plan()) },
      "entra-admin-d": {},
    });
    expect(got).toEqual([admin(PAYMENTS, true), admin(PAYMENTS_NEW, false)]);
  });
});

describe("entraRefusals", () => {
  const cases: Record<string, { policy: EntraPolicy; namespace: string; extensions?: string[]; want: ReturnType<typeof entraRefusals> }> = {
    PasswordModeNeedsNoGroup: { policy: policy("Password", {}), namespace: "team-x", want: [] },
    NamespaceWithGroup: { policy: policy("EntraId"), namespace: "team-payments", want: [] },
    // By namespace: a Database whose spec.team names a team with a group gains nothing from it.
    NamespaceWithoutGroup: {
      policy: policy("PasswordAndEntraId"),
      namespace: "team-x",
      want: [
        {
          reason: "NoEntraGroup",
          message:
            "metadata.namespace: team-x has no Entra group in the DBA policy's authentication.groups; with authentication.mode PasswordAndEntraId " +
            "every server's Entra admin is its team's group, so the DBA team must add one before Databases in team-x can be composed",
        },
      ],
    },
    ExtensionsWithoutPasswordSignIn: {
      policy: policy("EntraId"),
      namespace: "team-payments",
      extensions: ["pgcrypto"],
      want: [
        {
          reason: "ExtensionsNeedPasswordSignIn",
          message:
            "spec.extensions: the DBA policy turns password sign-in off (authentication.mode EntraId), and extensions are created through provider-sql, " +
            "which signs in with the admin password only; remove spec.extensions, or ask the DBA team for authentication.mode PasswordAndEntraId",
        },
      ],
    },
    ExtensionsWithPasswordAndEntraId: { policy: policy("PasswordAndEntraId"), namespace: "team-payments", extensions: ["pgcrypto"], want: [] },
  };
  for (const [name, c] of Object.entries(cases)) it(name, () => expect(entraRefusals(c.policy, c.namespace, c.extensions ?? [])).toEqual(c.want));
});

describe("EntraPolicy refuses", () => {
  const cases: Record<string, { over: Json; want: string }> = {
    EntraIdWithoutTenant: {
      over: { mode: "EntraId", tenantId: undefined },
      want: "authentication.tenantId: Required value: mode EntraId signs in with Entra ID, which needs the groups' tenant",
    },
    PasswordAndEntraIdWithoutTenant: {
      over: { mode: "PasswordAndEntraId", tenantId: undefined },
      want: "authentication.tenantId: Required value: mode PasswordAndEntraId signs in with Entra ID, which needs the groups' tenant",
    },
    TenantThatIsADomain: { over: { tenantId: "contoso.onmicrosoft.com" }, want: "authentication.tenantId: must be a tenant id (a UUID)" },
    GroupObjectIdThatIsAName: {
      over: { groups: { "team-payments": { objectId: "pg-admins-payments", principalName: "pg-admins-payments" } } },
      want: "authentication.groups.team-payments.objectId: must be the object id of an Entra group (a UUID)",
    },
    GroupKeyThatIsNotANamespace: {
      over: { groups: { Payments: PAYMENTS } },
      want: "authentication.groups.Payments: is not a Kubernetes namespace name",
    },
    PrincipalNameLongerThanARoleName: {
      over: { groups: { "team-payments": { ...PAYMENTS, principalName: "p".repeat(64) } } },
      want: "authentication.groups.team-payments.principalName: must be at most 63 characters: it names the group's PostgreSQL role",
    },
    PrincipalNameOfMoreThan63Bytes: {
      over: { groups: { "team-payments": { ...PAYMENTS, principalName: "Zahlungsprüfer ".repeat(4) } } },
      want: "authentication.groups.team-payments.principalName: must be at most 63 bytes in UTF-8: it names the group's PostgreSQL role",
    },
    UnknownMode: {
      over: { mode: "Kerberos" },
      want: 'authentication.mode: Invalid option: expected one of "Password"|"EntraId"|"PasswordAndEntraId"',
    },
    UnknownField: { over: { adminGroup: PAYMENTS.objectId }, want: 'authentication: unknown field "adminGroup"' },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const parsed = EntraPolicy.safeParse({ mode: "EntraId", tenantId: TENANT, groups: { "team-payments": PAYMENTS }, ...c.over });
      expect(parsed.success ? "accepted" : describeIssues("authentication", parsed.error)).toEqual(c.want);
    });
  }
  it("PasswordModeAcceptsNoTenantAndNoGroups", () => expect(EntraPolicy.parse({})).toEqual({ mode: "Password", groups: {} }));
});
