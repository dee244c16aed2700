// Builds the CustomResourceDefinitions of both kinds from their schemas;
// scripts/gen-api.ts writes them to crds/ and a test fails when crds/ is stale.

import { GROUP, VERSION } from "./common.ts";
import {
  computeClusterName,
  computeClusterPrinterColumns,
  computeClusterRules,
  computeClusterSpec,
  computeClusterStatus,
} from "./computecluster.ts";
import type { OpenAPISchema, Rule } from "./schema.ts";
import {
  trainingJobName,
  trainingJobPrinterColumns,
  trainingJobRules,
  trainingJobSpec,
  trainingJobStatus,
} from "./trainingjob.ts";

interface KindDefinition {
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly scope: "Namespaced" | "Cluster";
  readonly description: string;
  readonly spec: OpenAPISchema;
  readonly status: OpenAPISchema;
  /** The longest metadata.name, with why; and the pattern it must match, when it has one. */
  readonly name: {
    readonly maxLength: number;
    readonly message: string;
    readonly pattern?: string;
    readonly patternMessage?: string;
  };
  readonly rules: readonly Rule[];
  readonly printerColumns: readonly { name: string; type: string; jsonPath: string; description?: string }[];
}

export const KINDS: readonly KindDefinition[] = [
  {
    kind: "TrainingJob",
    plural: "trainingjobs",
    singular: "trainingjob",
    shortNames: ["tj"],
    scope: "Namespaced",
    description:
      "A distributed training job that crosscloud-operator places on the cloud and accelerator that fit and cost least, runs as an Indexed Job on a worker cluster, checkpoints across clouds, and moves to another cluster when its cluster fails.",
    spec: trainingJobSpec.openapi,
    status: trainingJobStatus.openapi,
    name: trainingJobName,
    rules: trainingJobRules,
    printerColumns: trainingJobPrinterColumns,
  },
  {
    kind: "ComputeCluster",
    plural: "computeclusters",
    singular: "computecluster",
    shortNames: ["cc"],
    scope: "Cluster",
    description:
      "A worker cluster (EKS or AKS) that TrainingJobs can be placed on: how to reach it, its checkpoint store, price overrides, and its observed capacity per node group.",
    spec: computeClusterSpec.openapi,
    status: computeClusterStatus.openapi,
    name: computeClusterName,
    rules: computeClusterRules,
    printerColumns: computeClusterPrinterColumns,
  },
];

export function customResourceDefinition(def: KindDefinition): Record<string, unknown> {
  const root: OpenAPISchema = {
    type: "object",
    description: def.description,
    required: ["spec"],
    properties: {
      apiVersion: { type: "string", description: "The API version: training.crosscloud.dev/v1alpha1." },
      kind: { type: "string", description: `The kind: ${def.kind}.` },
      // The API server allows only name and generateName here, without a description.
      metadata: {
        type: "object",
        properties: {
          name: {
            type: "string",
            description: "The object's name.",
            "x-kubernetes-validations": [
              { rule: `size(self) <= ${def.name.maxLength}`, message: def.name.message },
              ...(def.name.pattern
                ? [{ rule: `self.matches('${def.name.pattern}')`, message: def.name.patternMessage ?? "" }]
                : []),
            ],
          },
        },
      },
      spec: def.spec,
      status: def.status,
    },
    // Only with rules: the API server drops an empty list when it stores the CRD, so an empty one
    // would be a field the next applier (Helm, Argo CD) conflicts on with the first.
    ...(def.rules.length > 0 ? { "x-kubernetes-validations": [...def.rules] } : {}),
  };
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${def.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: [...def.shortNames],
        categories: ["crosscloud"],
      },
      scope: def.scope,
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: root },
          subresources: { status: {} },
          additionalPrinterColumns: def.printerColumns.map((c) => ({ ...c })),
        },
      ],
    },
  };
}

/** The file name of a kind's CRD in crds/. */
export function crdFileName(def: KindDefinition): string {
  return `${GROUP}_${def.plural}.yaml`;
}
