// Failpoints: named places where a test can make the operator crash on
// purpose (CROSSCLOUD_FAILPOINTS=launch.before-job), to prove that a restart
// after a crash at that exact point converges without duplicates. Unset in
// production, where failpoint() does nothing.

const active = new Set(
  (process.env.CROSSCLOUD_FAILPOINTS ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean),
);

/** Kills the process with SIGKILL (no cleanup, like a node loss) when `name` is armed. */
export function failpoint(name: string): void {
  if (!active.has(name)) return;
  process.stderr.write(`failpoint ${name}: SIGKILL\n`);
  process.kill(process.pid, "SIGKILL");
}
