// Placement's public surface: placeJob and its types.

export * from "./explain.ts";
export { placeJob } from "./place.ts";
export type { PlacementOptions } from "./score.ts";
export * from "./types.ts";
