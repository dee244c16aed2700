// npm run sandbox:up | sandbox:down | sandbox:status
// `status --expect-down` exits 1 when any sandbox process or port is left.

import { STATE_DIR } from "./paths.ts";
import { listeningPorts, Processes } from "./processes.ts";
import { down, sandboxPorts, up } from "./sandbox.ts";
import { defaultTopology } from "./topology.ts";

async function status(expectDown: boolean): Promise<number> {
  const alive = new Processes(STATE_DIR).alive();
  const open = listeningPorts();
  const ports = sandboxPorts(defaultTopology()).filter((p) => open.has(p));
  for (const r of alive) console.log(`running  ${r.name} (pid ${r.pid})`);
  for (const p of ports) console.log(`listening  127.0.0.1:${p}`);
  if (alive.length === 0 && ports.length === 0) console.log("the sandbox is down");
  return expectDown && (alive.length > 0 || ports.length > 0) ? 1 : 0;
}

async function main(): Promise<number> {
  const [command, ...flags] = process.argv.slice(2);
  switch (command) {
    case "up":
      await up();
      return 0;
    case "down":
      await down();
      return status(true);
    case "status":
      return status(flags.includes("--expect-down"));
    default:
      console.error("usage: cli.ts up | down | status [--expect-down]");
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`sandbox: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
