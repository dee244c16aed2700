// Runs the cloud simulator as its own process (how the sandbox starts it):
//
//   node scripts/sandbox/cloudsim/main.ts [--port 17446] [--scale-delay-ms 2000]
//     [--throttle-rate 0.3] [--error-rate 0] [--latency-ms 0] [--autoscaler-owned aws-sim/p5,...]
//
// Port default: CLOUDSIM_PORT, else SANDBOX_PORT_BASE + 446. Prints the URL on stdout; stops on SIGTERM/SIGINT.

import { parseArgs } from "node:util";
import { startCloudSim } from "./server.ts";

/** The simulator's port in a sandbox: CLOUDSIM_PORT, else SANDBOX_PORT_BASE + 446. */
export function cloudSimPort(env: NodeJS.ProcessEnv = process.env): number {
  return Number(env.CLOUDSIM_PORT ?? Number(env.SANDBOX_PORT_BASE ?? 17000) + 446);
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      port: { type: "string" },
      "scale-delay-ms": { type: "string", default: "2000" },
      "throttle-rate": { type: "string", default: "0" },
      "error-rate": { type: "string", default: "0" },
      "latency-ms": { type: "string", default: "0" },
      "autoscaler-owned": { type: "string", default: "" },
      verbose: { type: "boolean", default: false },
    },
  });
  const sim = await startCloudSim({
    port: values.port ? Number(values.port) : cloudSimPort(),
    scaleDelayMs: Number(values["scale-delay-ms"]),
    faults: {
      throttleRate: Number(values["throttle-rate"]),
      errorRate: Number(values["error-rate"]),
      latencyMs: Number(values["latency-ms"]),
    },
    autoscalerOwned: (values["autoscaler-owned"] ?? "").split(",").filter(Boolean),
    ...(values.verbose ? { log: (line: string) => process.stderr.write(`[cloudsim] ${line}\n`) } : {}),
  });
  process.stdout.write(`${sim.url}\n`);
  const stop = () => void sim.stop().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
