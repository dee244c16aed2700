// A process that campaigns for a Lease, for the leader-election test that
// SIGKILLs a leader: argv is <kubeconfig> <namespace> <lease> <identity>; it
// prints "leading" when it leads and "stopped" when it stops.

import { KubeConfig } from "@kubernetes/client-node";
import { LeaderElector } from "../../src/runtime/leader.ts";

const [kubeconfig, namespace, name, identity] = process.argv.slice(2);
if (!kubeconfig || !namespace || !name || !identity) {
  process.stderr.write("usage: runtime-elector.ts <kubeconfig> <namespace> <lease> <identity>\n");
  process.exit(2);
}
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(kubeconfig);
const elector = new LeaderElector({
  kubeConfig,
  namespace,
  name,
  identity,
  leaseDurationMs: 3000,
  renewDeadlineMs: 2000,
  retryPeriodMs: 500,
});
const stop = new AbortController();
process.on("SIGTERM", () => stop.abort());
await elector.run(
  {
    onStartedLeading: () => {
      process.stdout.write("leading\n");
    },
    onStoppedLeading: () => {
      process.stdout.write("stopped\n");
    },
  },
  stop.signal,
);
