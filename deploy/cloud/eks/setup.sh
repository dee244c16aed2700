#!/usr/bin/env bash
# The AWS side of crosscloud-operator, step by step (docs/install.md, "EKS").
# NOT run against AWS by this repository: read it, set the variables, run the
# steps you need. Needs the aws CLI v2, eksctl and kubectl.
set -euo pipefail

ACCOUNT=${ACCOUNT:-111122223333}
REGION=${REGION:-us-east-1}
HUB=${HUB:-hub}                 # the EKS cluster the operator runs in
WORKER=${WORKER:-ml-prod}       # a worker EKS cluster (deploy/cloud/eks/cluster.yaml)
BUCKET=${BUCKET:-ckpt-use1}     # the worker's checkpoint store
NAMESPACE=${NAMESPACE:-ml}      # a namespace whose TrainingJobs run on the worker
HERE=$(cd "$(dirname "$0")" && pwd)

step() { printf '\n== %s\n' "$*"; }

step "1. The worker cluster and its node groups"
eksctl create cluster -f "$HERE/cluster.yaml"

step "2. The operator's role, trusted by EKS Pod Identity, with the EKS actions its provider calls"
aws iam create-role --role-name crosscloud-operator \
  --assume-role-policy-document "file://$HERE/pod-identity-trust.json"
aws iam put-role-policy --role-name crosscloud-operator --policy-name crosscloud-eks \
  --policy-document "file://$HERE/iam-policy.json"

step "3. Pod Identity for the operator's ServiceAccount on the hub"
eksctl create addon --cluster "$HUB" --region "$REGION" --name eks-pod-identity-agent
aws eks create-pod-identity-association --cluster-name "$HUB" --region "$REGION" \
  --namespace crosscloud-system --service-account crosscloud-operator \
  --role-arn "arn:aws:iam::$ACCOUNT:role/crosscloud-operator"

step "4. The checkpoint bucket, limited to the job lines"
aws s3api create-bucket --bucket "$BUCKET" --region "$REGION"
aws s3api put-public-access-block --bucket "$BUCKET" --public-access-block-configuration \
  BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
aws iam create-role --role-name "crosscloud-workload-$NAMESPACE" \
  --assume-role-policy-document "file://$HERE/pod-identity-trust.json"
aws s3api put-bucket-policy --bucket "$BUCKET" --policy "file://$HERE/bucket-policy.json"

step "5. The workloads' identity on the worker: their ServiceAccount -> the workload role"
kubectl --context "$WORKER" create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl --context "$WORKER" apply -f -
kubectl --context "$WORKER" -n "$NAMESPACE" create serviceaccount trainer --dry-run=client -o yaml |
  kubectl --context "$WORKER" apply -f -
aws eks create-pod-identity-association --cluster-name "$WORKER" --region "$REGION" \
  --namespace "$NAMESPACE" --service-account trainer \
  --role-arn "arn:aws:iam::$ACCOUNT:role/crosscloud-workload-$NAMESPACE"

step "6. The operator's role on the worker (already in cluster.yaml's accessConfig; for another cluster:)"
echo aws eks create-access-entry --cluster-name "$WORKER" --region "$REGION" \
  --principal-arn "arn:aws:iam::$ACCOUNT:role/crosscloud-operator" \
  --type STANDARD --kubernetes-groups crosscloud:operators
