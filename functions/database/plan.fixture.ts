// The ServerPlan of the example's medium Database (team-payments/orders, policy rg-data-prod), for the tests of the
// builders that take one (alerts, entra, restore); each overrides what its case is about.
import type { ServerPlan } from "./resources.ts";

const NETWORK = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-net-prod/providers/Microsoft.Network";

export function testPlan(over: Partial<ServerPlan> = {}): ServerPlan {
  return {
    namespace: "team-payments",
    team: "payments",
    name: "pg-payments-orders-prod-edfe87",
    location: "westeurope",
    resourceGroupName: "rg-data-prod",
    skuName: "GP_Standard_D2ds_v5",
    version: "16",
    storageMb: 131072,
    storageTier: "P10",
    autoGrow: true,
    backupRetentionDays: 14,
    geoRedundantBackup: false,
    highAvailabilityMode: undefined,
    zone: undefined,
    delegatedSubnetId: `${NETWORK}/virtualNetworks/vnet-prod/subnets/postgres`,
    privateDnsZoneId: `${NETWORK}/privateDnsZones/prod.private.postgres.database.azure.com`,
    administratorLogin: "pgadmin",
    passwordAdmin: true,
    authentication: { activeDirectoryAuthEnabled: false, passwordAuthEnabled: true },
    maintenanceWindow: undefined,
    tags: { environment: "prod", team: "payments" },
    providerConfigRef: { kind: "ClusterProviderConfig", name: "default" },
    protectFromDeletion: false,
    secretName: "orders-db",
    ...over,
  };
}
