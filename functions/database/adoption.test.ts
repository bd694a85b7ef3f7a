// Adoption: a server that exists in Azure, handed by the DBA policy to a Database. Observed first (nothing else is
// composed), then taken over as Azure reports it: its name, resource group, login, version and storage stay.
import { Ready, type RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { describe, expect, it } from "vitest";
import { runDatabase } from "./fn.ts";
import { LABELS, NOT_READY, SERVER, type Json, composed, cond, fatal, policy, request, server, warning } from "./fn.fixture.ts";

const LEGACY = { serverName: "pg-orders-legacy", resourceGroupName: "rg-legacy" };
const LEGACY_ZONE = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-legacy/providers/Microsoft.Network/privateDnsZones/legacy.postgres.database.azure.com";
const ADOPT = { adopt: { "team-payments/orders": LEGACY } };
const MESSAGE = 'observing existing server pg-orders-legacy in resource group rg-legacy (DBA policy adopt["team-payments/orders"]); the Database takes it over once the provider has found it, and never creates it';

/** The server as composed to be adopted: its Azure name and resource group, and the login and password left out. */
function adoptedServer(policies: string[], forProvider: Json = {}): Json {
  const s = server({ name: LEGACY.serverName, rg: LEGACY.resourceGroupName }) as { metadata: Json; spec: { forProvider: Json } };
  const { administratorLogin: _l, administratorPasswordSecretRef: _p, ...rest } = s.spec.forProvider;
  return { ...s, metadata: { ...s.metadata, labels: LABELS }, spec: { ...s.spec, managementPolicies: policies, forProvider: { ...rest, ...forProvider } } };
}

describe("adopting an existing server", () => {
  it("observes it first, composing nothing else, with neither its login nor a password", () => {
    const rsp = runDatabase(request({ input: policy(ADOPT) }));
    const want: RunFunctionResponse = {
      meta: { tag: "t-1", ttl: { seconds: 60, nanos: 0 } },
      desired: {
        composite: { resource: { status: { serverName: LEGACY.serverName, resourceGroupName: LEGACY.resourceGroupName } }, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED },
        resources: { server: composed(adoptedServer(["Observe"]), NOT_READY) },
      },
      results: [],
      conditions: [cond("DatabaseReady", false, "Adopting", MESSAGE)],
      requirements: undefined,
      context: undefined,
    };
    expect(rsp).toEqual(want);
  });

  // As the provider reports it once found: its own login, an older version, less storage, and no HA.
  const found = () => {
    const observedServer = adoptedServer(["Observe"]) as { metadata: Json; spec: Json };
    return {
      ...observedServer,
      metadata: { ...observedServer.metadata, name: "orders-x7k2p" },
      status: {
        atProvider: {
          id: `/subscriptions/0001/resourceGroups/${LEGACY.resourceGroupName}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${LEGACY.serverName}`,
          fqdn: `${LEGACY.serverName}.postgres.database.azure.com`,
          administratorLogin: "legacyadmin",
          location: "westeurope",
          resourceGroupName: LEGACY.resourceGroupName,
          version: "15",
          storageMb: 65536,
          geoRedundantBackupEnabled: true,
          delegatedSubnetId: (server() as { spec: { forProvider: Json } }).spec.forProvider.delegatedSubnetId,
          privateDnsZoneId: LEGACY_ZONE,
        },
        conditions: [{ type: "Ready", status: "True", reason: "Available" }],
      },
    };
  };

  it("takes it over once the provider found it: create-only fields as Azure has them, the rest of the policy applied", () => {
    const rsp = runDatabase(request({ input: policy(ADOPT), observed: { server: found() }, required: { "connection-secret": { items: [] } } }), { newPassword: () => "New-Admin-Passw0rd" });
    const composedServer = rsp.desired?.resources?.server?.resource as { spec: { managementPolicies: string[]; forProvider: Json }; metadata: Json };
    expect(composedServer.metadata.annotations).toEqual({ "crossplane.io/external-name": LEGACY.serverName });
    expect(composedServer.spec.managementPolicies).toEqual(SERVER.policies);
    expect(composedServer.spec.forProvider).toMatchObject({
      administratorLogin: "legacyadmin",
      administratorPasswordSecretRef: { name: "orders-db", key: "password" },
      resourceGroupName: LEGACY.resourceGroupName,
      version: "15",
      // A size's storage applies at creation only: the adopted server keeps its 64 GiB until the spec asks for more.
      storageMb: 65536,
      geoRedundantBackupEnabled: true,
      privateDnsZoneId: LEGACY_ZONE,
      tags: SERVER.tags,
    });
    expect(Object.keys(rsp.desired?.resources ?? {}).sort()).toEqual(["connection-secret", "database-orders", "parameter-require_secure_transport", "server"]);
    expect(rsp.results).toEqual([
      warning('policy backup.geoRedundant: the server was created with true, not false; geo-redundant backup is chosen at creation only, so it stays'),
      warning('policy administratorLogin: the server was created with "legacyadmin", not "pgadmin"; the admin login is fixed for the server\'s life, so it stays'),
      warning(`policy network.privateDnsZoneId: the server was created with ${JSON.stringify(LEGACY_ZONE)}, not ${JSON.stringify((server() as { spec: { forProvider: Json } }).spec.forProvider.privateDnsZoneId)}; Azure cannot move a server to another private DNS zone, so it stays`),
      warning(
        "the connection Secret orders-db is gone while server pg-orders-legacy exists; a new admin password was generated and the provider sets it on the server",
        "AdminPasswordReset",
      ),
    ]);
    expect(rsp.desired?.composite?.resource).toMatchObject({ status: { serverName: LEGACY.serverName, resourceGroupName: LEGACY.resourceGroupName, version: "15" } });
  });

  it("refuses a server that takes connections from public networks: the policy's servers are private, which Azure cannot change", () => {
    const publicServer = found() as { status: { atProvider: Json } };
    const { delegatedSubnetId: _subnet, ...atProvider } = publicServer.status.atProvider;
    const rsp = runDatabase(request({ input: policy(ADOPT), observed: { server: { ...publicServer, status: { ...publicServer.status, atProvider } } } }));
    expect(rsp.results).toEqual([
      fatal(
        "AdoptionRefused",
        'adopt["team-payments/orders"]: server pg-orders-legacy has no delegated subnet: it takes connections from public networks, and the DBA policy\'s servers are private (network.delegatedSubnetId), which Azure cannot change on an existing server; it cannot be adopted',
      ),
    ]);
  });

  it("refuses a server the policy hands to two Databases, and a Database that already has another server", () => {
    const twice = policy({ adopt: { "team-payments/orders": LEGACY, "team-payments/orders-copy": LEGACY } });
    expect(runDatabase(request({ input: twice })).results).toEqual([
      fatal(
        "AdoptionRefused",
        'adopt["team-payments/orders"]: server pg-orders-legacy is also named by adopt["team-payments/orders-copy"] of the DBA policy; a server belongs to one Database only, so no Database adopts it until the DBA team keeps one entry',
      ),
    ]);
    const own = { ...found(), metadata: { name: "orders-x7k2p", annotations: { "crossplane.io/external-name": SERVER.name } } };
    expect(runDatabase(request({ input: policy(ADOPT), observed: { server: own } })).results).toEqual([
      fatal("AdoptionRefused", `adopt["team-payments/orders"]: this Database already has server ${SERVER.name}; a Database's server cannot change, so it cannot adopt pg-orders-legacy`),
    ]);
  });
});
