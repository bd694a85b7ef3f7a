// vitest globalSetup of the "bundle" project: builds the bundle the image ships, so the end-to-end suite runs
// against exactly that file (lazily loaded adapters included), not the TypeScript sources.
import { bundle } from "../../scripts/bundle.ts";

export default async function setup(): Promise<void> {
  await bundle();
}
