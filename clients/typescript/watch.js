// @ts-check
// Following a model's alias changes from TypeScript, as a deployment would: prints each change
// as one JSON line, resuming after the last one when the server ends the stream (it does at
// shutdown and after its longest watch time). Ends after CONTROLPLANE_LIMIT changes if set.
//
//   CONTROLPLANE_URL=http://127.0.0.1:7470 CONTROLPLANE_TOKEN=... \
//     CONTROLPLANE_MODEL=tenants/acme/models/churn node clients/typescript/watch.js
//
// Type-checked like example.js (`tsc -p clients/typescript`).

import { toJson } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  ModelAliasChangeSchema,
  RegistryService,
} from "./gen/controlplane/v1/registry_service_pb.js";

/** @param {string} name */
function env(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`set ${name}`);
  }
  return value;
}

const registry = createClient(
  RegistryService,
  createGrpcTransport({ baseUrl: process.env.CONTROLPLANE_URL ?? "http://127.0.0.1:7470" }),
);
const headers = { authorization: `Bearer ${env("CONTROLPLANE_TOKEN")}` };
const limit = Number(process.env.CONTROLPLANE_LIMIT ?? "0");

let after = process.env.CONTROLPLANE_AFTER ?? "";
let fromBeginning = process.env.CONTROLPLANE_FROM_BEGINNING === "1" && !after;
let seen = 0;
for (;;) {
  const changes = registry.watchModelAliasChanges(
    { parent: env("CONTROLPLANE_MODEL"), after, fromBeginning },
    {
      headers,
      // Where the stream starts: the place to resume when it ends before any change.
      onHeader: (received) => {
        after = received.get("x-watch-after") ?? after;
        fromBeginning = !after;
      },
    },
  );
  for await (const change of changes) {
    console.log(JSON.stringify(toJson(ModelAliasChangeSchema, change)));
    after = change.name;
    fromBeginning = false;
    seen += 1;
    if (limit && seen >= limit) {
      process.exit(0);
    }
  }
}
