// A process for the shutdown test: installs onShutdown with a cleanup that
// takes argv[2] ms (or never ends when "hang"), prints what happens, and waits.

import { onShutdown } from "../../src/runtime/shutdown.ts";

const mode = process.argv[2] ?? "0";
const controller = onShutdown(
  async () => {
    process.stdout.write(`aborted=${controller.signal.aborted}\n`);
    if (mode === "hang") await new Promise(() => {});
    await new Promise((r) => setTimeout(r, Number(mode)));
    process.stdout.write("cleaned\n");
  },
  { timeoutMs: 300 },
);
setInterval(() => {}, 1000); // stay alive like an operator
process.stdout.write("ready\n");
