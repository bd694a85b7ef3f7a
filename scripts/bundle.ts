// npm run bundle: the server as the image runs it, one ES module plus the chunks it loads on demand (the Azure,
// PostgreSQL and Kubernetes adapters, metrics), with every dependency inside: no node_modules in the image.
// Rolldown (Vite's bundler) rather than shipping node_modules: 178 MB of production dependencies, most of them the
// SDK's code generators that never run, become a few MB, and start-up reads a handful of files instead of ~300.
import { rmSync } from "node:fs";
import { build } from "rolldown";

export const BUNDLE_DIR = "dist/server";
export const BUNDLE_ENTRY = `${BUNDLE_DIR}/main.mjs`;

/** Writes the bundle to `dir` (default dist/server, what the Dockerfile copies), replacing what was there. */
export async function bundle(dir = BUNDLE_DIR): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  await build({
    input: { main: "functions/main.ts" },
    platform: "node",
    // Optional native add-ons the code never asks for (pg's pg-native is only loaded when native: true).
    external: ["pg-native"],
    logLevel: "warn",
    output: {
      dir,
      format: "esm",
      entryFileNames: "[name].mjs",
      chunkFileNames: "[name]-[hash].mjs",
      // Names are kept so a logged stack still says which function failed.
      minify: { compress: true, mangle: false },
    },
  });
}

if (import.meta.main) await bundle();
