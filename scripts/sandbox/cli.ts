// npm run sandbox:up | sandbox:down | sandbox:status | sandbox:kueue (Kueue on the
// running sandbox's hub; `up --kueue` or SANDBOX_KUEUE=1 starts it with the sandbox), and the faults:
// sandbox:partition -- <cluster> | sandbox:heal -- <cluster> | sandbox:evict -- <cluster>/<group> [count].
// `status --expect-down` exits 1 when any sandbox process or port is left;
// a command naming an unknown cluster or node group exits 2.

import { describePartitions, evict, heal, partition, UsageError } from "./faults.ts";
import { startKueue } from "./kueue.ts";
import { STATE_DIR } from "./paths.ts";
import { listeningPorts, Processes } from "./processes.ts";
import { down, sandboxPorts, up } from "./sandbox.ts";
import { defaultTopology } from "./topology.ts";

const USAGE = [
  "usage: cli.ts up [--kueue] | down | status [--expect-down]",
  "       cli.ts kueue                                 (start Kueue on the running sandbox's hub)",
  "       cli.ts partition <cluster> | heal <cluster>   (cluster: a worker, aws-sim or azure-sim)",
  "       cli.ts evict <cluster>/<group> [count]       (count default: all the group's nodes)",
].join("\n");

async function status(expectDown: boolean): Promise<number> {
  const alive = new Processes(STATE_DIR).alive();
  const open = listeningPorts();
  const ports = sandboxPorts(defaultTopology()).filter((p) => open.has(p));
  for (const r of alive) console.log(`${r.pausedAt ? "paused " : "running"}  ${r.name} (pid ${r.pid})`);
  for (const p of ports) console.log(`listening  127.0.0.1:${p}`);
  for (const line of describePartitions(alive)) console.log(line);
  if (alive.length === 0 && ports.length === 0) console.log("the sandbox is down");
  return expectDown && (alive.length > 0 || ports.length > 0) ? 1 : 0;
}

async function main(): Promise<number> {
  const [command, ...args] = process.argv.slice(2);
  switch (command) {
    case "up":
      await up(undefined, args.includes("--kueue") ? { kueue: true } : {});
      return 0;
    case "kueue": {
      const kueue = await startKueue();
      console.log(kueue.started ? `kueue started (pid ${kueue.pid})` : `kueue already runs (pid ${kueue.pid})`);
      return 0;
    }
    case "down":
      await down();
      return status(true);
    case "status":
      return status(args.includes("--expect-down"));
    case "partition":
      await partition(args[0]);
      return 0;
    case "heal":
      await heal(args[0]);
      return 0;
    case "evict":
      await evict(args[0], args[1]);
      return 0;
    default:
      console.error(USAGE);
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`sandbox: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
