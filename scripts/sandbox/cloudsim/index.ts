// The cloud simulator's public surface.

export type { Faults } from "./faults.ts";
export { cloudSimPort } from "./main.ts";
export { type CloudSim, type CloudSimOptions, startCloudSim } from "./server.ts";
