// Graceful shutdown on SIGTERM/SIGINT: abort everything long-running, give the
// cleanup handler a bounded time, then exit (0 when it finished, 1 otherwise).
// A second signal exits at once with 1, as client-go's signal handler does.

export interface ShutdownOptions {
  /** Signals that start the shutdown. Default SIGTERM and SIGINT. */
  readonly signals?: NodeJS.Signals[];
  /** Time the handler gets before the process exits with 1. Default 25_000 ms (under the kubelet's 30 s grace). */
  readonly timeoutMs?: number;
  /** How the process ends. Default process.exit. */
  readonly exit?: (code: number) => void;
  /** Told why the process exits with 1. Default a line on stderr. */
  readonly report?: (message: string) => void;
}

/**
 * Installs the signal handlers. The returned controller aborts on the first
 * signal; `handler` runs after that (await the operator's stop in it).
 */
export function onShutdown(handler: () => Promise<void>, o: ShutdownOptions = {}): AbortController {
  const controller = new AbortController();
  const signals = o.signals ?? ["SIGTERM", "SIGINT"];
  const timeoutMs = o.timeoutMs ?? 25_000;
  const exit = o.exit ?? ((code: number) => process.exit(code));
  const report = o.report ?? ((message: string) => process.stderr.write(`${message}\n`));
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      report(`received ${signal} again during shutdown; exiting now`);
      return exit(1);
    }
    controller.abort(new Error(`received ${signal}`));
    const timer = setTimeout(() => {
      report(`shutdown did not finish within ${timeoutMs} ms; exiting`);
      exit(1);
    }, timeoutMs);
    handler().then(
      () => {
        clearTimeout(timer);
        exit(0);
      },
      (err: unknown) => {
        clearTimeout(timer);
        report(`shutdown failed: ${err instanceof Error ? err.message : String(err)}`);
        exit(1);
      },
    );
  };
  for (const s of signals) process.on(s, onSignal);
  return controller;
}
