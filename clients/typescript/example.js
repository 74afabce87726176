// @ts-check
// A small end-to-end use of the generated TypeScript client: who am I, create an experiment
// with a run, search runs, and one expected error. Prints one JSON line.
//
//   CONTROLPLANE_URL=http://127.0.0.1:7470 CONTROLPLANE_TOKEN=... CONTROLPLANE_TENANT=acme \
//     node clients/typescript/example.js
//
// Plain ES module JavaScript, type-checked against the generated .d.ts files by
// `tsc -p clients/typescript` (// @ts-check and JSDoc), so Node 20 runs it as is.

import { randomUUID } from "node:crypto";
import { toJson } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  ExperimentSchema,
  ExperimentService,
  RunSchema,
} from "./gen/controlplane/v1/experiment_service_pb.js";
import { Role, TenantService } from "./gen/controlplane/v1/tenant_service_pb.js";

/** @param {string} name */
function env(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`set ${name}`);
  }
  return value;
}

const baseUrl = process.env.CONTROLPLANE_URL ?? "http://127.0.0.1:7470";
const tenant = `tenants/${env("CONTROLPLANE_TENANT")}`;
const experimentId = process.env.CONTROLPLANE_EXPERIMENT_ID ?? `ts-${randomUUID().slice(0, 8)}`;

// gRPC over HTTP/2 without TLS (h2c) to the control plane's gRPC port.
const transport = createGrpcTransport({ baseUrl });
// Every call carries the API key as a bearer token.
const callOptions = { headers: { authorization: `Bearer ${env("CONTROLPLANE_TOKEN")}` } };

const tenants = createClient(TenantService, transport);
const experiments = createClient(ExperimentService, transport);

const caller = await tenants.getCaller({}, callOptions);

const experiment = await experiments.createExperiment(
  {
    parent: tenant,
    experimentId,
    experiment: { displayName: "From TypeScript", tags: { client: "typescript" } },
  },
  callOptions,
);
const run = await experiments.createRun(
  { parent: experiment.name, runId: "first", params: { lr: "0.01" } },
  callOptions,
);
const search = await experiments.searchRuns(
  { parent: experiment.name, filter: 'params.lr = "0.01"' },
  callOptions,
);

/** @type {{ code: string, message: string } | null} */
let missing = null;
try {
  await experiments.getExperiment({ name: `${tenant}/experiments/does-not-exist` }, callOptions);
} catch (error) {
  const connectError = ConnectError.from(error);
  missing = { code: Code[connectError.code], message: connectError.rawMessage };
}

console.log(
  JSON.stringify({
    caller: { principal: caller.principal, roles: caller.roles.map((role) => Role[role]) },
    experiment: toJson(ExperimentSchema, experiment),
    run: run.name,
    searchRuns: search.runs.map((found) => toJson(RunSchema, found)),
    missing,
  }),
);
