// The providers' public surface: the interface, the typed errors, and the
// EKS and AKS adapters with their clients and cluster-auth tokens.

export { createAksClient } from "./aks/client.ts";
export * from "./aks/provider.ts";
export * from "./aks/token.ts";
export { createEksClient } from "./eks/client.ts";
export * from "./eks/provider.ts";
export * from "./eks/token.ts";
export * from "./errors.ts";
export { type FakeCall, FakeProvider } from "./fake.ts";
export type { RetryOptions } from "./retry.ts";
export * from "./types.ts";
export { realSleep, type Sleep } from "./wait.ts";
