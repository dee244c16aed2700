// What the replicator reports while it works: one event type per thing that
// happened, for logs, tests and progress displays.

export type ReplicationEvent =
  | { readonly type: "part-written"; readonly key: string; readonly index: number; readonly bytes: number }
  | { readonly type: "part-skipped"; readonly key: string; readonly index: number; readonly bytes: number }
  | {
      readonly type: "file-verified";
      readonly destination: string;
      readonly step: number;
      readonly path: string;
      readonly size: number;
      readonly sha256: string;
      /** True when an earlier run had already copied and verified it. */
      readonly skipped: boolean;
    }
  | {
      readonly type: "step-committed";
      readonly destination: string;
      readonly step: number;
      readonly bytesWritten: number;
    }
  | {
      readonly type: "step-skipped";
      readonly destination?: string;
      readonly step: number;
      readonly reason: "stale-epoch" | "already-replicated" | "beyond-keep" | "invalid-manifest";
      readonly detail?: string;
    }
  | { readonly type: "step-failed"; readonly destination: string; readonly step: number; readonly error: string }
  | { readonly type: "dcp-committed"; readonly step: number }
  | { readonly type: "step-deleted"; readonly store: string; readonly step: number };

export type EventSink = (event: ReplicationEvent) => void;
