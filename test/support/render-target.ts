// The render's target (RenderInput["target"]) of a sandbox node group, for
// render unit tests: aws-sim or azure-sim, namespace ml, the catalog's type.

import type { CapacityType } from "../../src/catalog/catalog.ts";
import { instanceType } from "../../src/catalog/instance-types.ts";

export const renderTarget = (
  cloud: "aws" | "azure",
  nodeGroup: string,
  type: string,
  capacityType: CapacityType = "OnDemand",
) => ({
  cluster: cloud === "aws" ? "aws-sim" : "azure-sim",
  namespace: "ml",
  cloud,
  nodeGroup,
  instanceType: instanceType(type),
  capacityType,
});
