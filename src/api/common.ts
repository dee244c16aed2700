// Pieces both kinds share: the API group, conditions as the Kubernetes API
// conventions define them, and the accelerator and cloud vocabularies.

import { ACCELERATOR_TYPES, CLOUDS } from "../catalog/instance-types.ts";
import { array, enumOf, integer, object, string } from "./schema.ts";

export const GROUP = "training.crosscloud.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;

export { CAPACITY_TYPES } from "../catalog/catalog.ts";
export { ACCELERATOR_TYPES, CLOUDS } from "../catalog/instance-types.ts";

export const conditionSchema = object(
  "A condition of the object, following the Kubernetes API conventions.",
  {
    type: string("The kind of condition, e.g. Ready or Placed.", { maxLength: 316 }),
    status: enumOf("Whether the condition holds: True, False or Unknown.", ["True", "False", "Unknown"]),
    reason: string("A CamelCase word saying why the condition last changed, for machines and alerts.", {
      maxLength: 1024,
    }),
    message: string("Why the condition last changed, in words a person can act on.", { maxLength: 32768 }),
    lastTransitionTime: string("When the status last changed (not when the message or reason did).", {
      format: "date-time",
    }),
    observedGeneration: integer("The metadata.generation the condition was computed from.", {
      minimum: 0,
      format: "int64",
    }),
  },
  { required: ["type", "status", "lastTransitionTime", "reason", "message"] },
);

/** status.conditions, described for its kind: which types it carries. */
export const conditionsOf = (description: string) =>
  array(description, conditionSchema, { listType: "map", listMapKeys: ["type"], maxItems: 16 });

export const conditionsSchema = conditionsOf("The object's current conditions; one per type.");

export const cloudSchema = (description: string) => enumOf(description, CLOUDS);
export const acceleratorTypeSchema = (description: string) => enumOf(description, ACCELERATOR_TYPES);

/** Decimal USD amounts as strings, e.g. "21.50" (no float drift in YAML round trips). */
export const PRICE_PATTERN = "^[0-9]+(\\.[0-9]{1,4})?$";
export const price = (description: string) => string(description, { pattern: PRICE_PATTERN });

export const timestamp = (description: string) => string(description, { format: "date-time" });
