// The catalog's public surface: instance facts, prices and overrides,
// configuration, and what a node's labels say.

export * from "./catalog.ts";
export * from "./config.ts";
export * from "./instance-types.ts";
export * from "./money.ts";
export * from "./node-labels.ts";
