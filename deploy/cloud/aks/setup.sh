#!/usr/bin/env bash
# The Azure side of crosscloud-operator, step by step (docs/install.md, "AKS").
# NOT run against Azure by this repository: read it, set the variables, run the
# steps you need. Needs the az CLI, helm and kubectl.
set -euo pipefail

SUBSCRIPTION=${SUBSCRIPTION:-00000000-0000-0000-0000-000000000000}
RG=${RG:-ml}
LOCATION=${LOCATION:-westus3}
CLUSTER=${CLUSTER:-ml-prod}
IDENTITY=${IDENTITY:-crosscloud-operator}     # the operator's user-assigned managed identity
HUB_ISSUER=${HUB_ISSUER:?the OIDC issuer URL of the hub cluster the operator runs in}
ACCOUNT=${ACCOUNT:-mlckptwestus3}              # storage account of the checkpoint store
CONTAINER=${CONTAINER:-ckpt}
NAMESPACE=${NAMESPACE:-ml}                     # a namespace whose TrainingJobs run here
HERE=$(cd "$(dirname "$0")" && pwd)
CLUSTER_ID="/subscriptions/$SUBSCRIPTION/resourceGroups/$RG/providers/Microsoft.ContainerService/managedClusters/$CLUSTER"

step() { printf '\n== %s\n' "$*"; }

step "1. InfiniBand: RDMA node pools of one cluster share one InfiniBand network"
az feature register --namespace Microsoft.ContainerService --name AKSInfinibandSupport
az provider register --namespace Microsoft.ContainerService

step "2. The cluster: Entra ID with Kubernetes RBAC, OIDC issuer and Workload Identity"
az aks create --resource-group "$RG" --name "$CLUSTER" --location "$LOCATION" \
  --enable-aad --enable-oidc-issuer --enable-workload-identity --node-count 2 --generate-ssh-keys

step "3. ND H100 v5 pools, on-demand and Spot, tainted as the catalog expects (manual count, bounds in tags)"
az aks nodepool add --resource-group "$RG" --cluster-name "$CLUSTER" --name ndh100 \
  --mode User --node-vm-size Standard_ND96isr_H100_v5 --node-count 0 --os-sku Ubuntu --gpu-driver none \
  --node-taints sku=gpu:NoSchedule --tags crosscloud.dev/min-count=0 crosscloud.dev/max-count=16
az aks nodepool add --resource-group "$RG" --cluster-name "$CLUSTER" --name ndh100spot \
  --mode User --node-vm-size Standard_ND96isr_H100_v5 --node-count 0 --os-sku Ubuntu --gpu-driver none \
  --priority Spot --eviction-policy Delete --spot-max-price -1 \
  --node-taints sku=gpu:NoSchedule --tags crosscloud.dev/min-count=0 crosscloud.dev/max-count=16

step "4. GPU Operator and Network Operator (SR-IOV device plugin: rdma/ib), in privileged namespaces"
az aks get-credentials --resource-group "$RG" --name "$CLUSTER" --admin
for ns in gpu-operator network-operator; do
  kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -
  kubectl label --overwrite namespace "$ns" pod-security.kubernetes.io/enforce=privileged
done
helm repo add nvidia https://helm.ngc.nvidia.com/nvidia && helm repo update
helm upgrade --install -n network-operator network-operator nvidia/network-operator \
  -f https://raw.githubusercontent.com/Azure/aks-rdma-infiniband/main/configs/values/network-operator/values.yaml
kubectl apply -k https://github.com/Azure/aks-rdma-infiniband/configs/nicclusterpolicy/sriov-device-plugin
helm upgrade --install -n gpu-operator gpu-operator nvidia/gpu-operator \
  -f https://raw.githubusercontent.com/Azure/aks-rdma-infiniband/main/configs/values/gpu-operator/values.yaml

step "5. The operator's identity: a managed identity, federated with the hub's ServiceAccount"
az identity create --resource-group "$RG" --name "$IDENTITY"
PRINCIPAL=$(az identity show --resource-group "$RG" --name "$IDENTITY" --query principalId -o tsv)
az identity federated-credential create --resource-group "$RG" --identity-name "$IDENTITY" \
  --name crosscloud-operator --issuer "$HUB_ISSUER" \
  --subject system:serviceaccount:crosscloud-system:crosscloud-operator --audiences api://AzureADTokenExchange

step "6. The role for agent pool reads and writes, assigned on this cluster only"
sed "s|/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/ml|/subscriptions/$SUBSCRIPTION/resourceGroups/$RG|" \
  "$HERE/role.json" >"${TMPDIR:-/tmp}/crosscloud-role.json"
az role definition create --role-definition "@${TMPDIR:-/tmp}/crosscloud-role.json"
az role assignment create --assignee-object-id "$PRINCIPAL" --assignee-principal-type ServicePrincipal \
  --role "crosscloud-operator agent pools" --scope "$CLUSTER_ID"

step "7. The checkpoint store: account, container, Storage Blob Data Contributor on the container"
az storage account create --resource-group "$RG" --name "$ACCOUNT" --location "$LOCATION" \
  --sku Standard_LRS --kind StorageV2 --allow-blob-public-access false
az storage container create --account-name "$ACCOUNT" --name "$CONTAINER" --auth-mode login
STORE="$(az storage account show --resource-group "$RG" --name "$ACCOUNT" --query id -o tsv)/blobServices/default/containers/$CONTAINER"
az role assignment create --assignee-object-id "$PRINCIPAL" --assignee-principal-type ServicePrincipal \
  --role "Storage Blob Data Contributor" --scope "$STORE"

step "8. The workloads' identity: its own managed identity, federated with this cluster's ServiceAccount"
ISSUER=$(az aks show --resource-group "$RG" --name "$CLUSTER" --query oidcIssuerProfile.issuerUrl -o tsv)
az identity create --resource-group "$RG" --name "crosscloud-workload-$NAMESPACE"
WORKLOAD=$(az identity show --resource-group "$RG" --name "crosscloud-workload-$NAMESPACE" --query principalId -o tsv)
CLIENT_ID=$(az identity show --resource-group "$RG" --name "crosscloud-workload-$NAMESPACE" --query clientId -o tsv)
az identity federated-credential create --resource-group "$RG" --identity-name "crosscloud-workload-$NAMESPACE" \
  --name trainer --issuer "$ISSUER" --subject "system:serviceaccount:$NAMESPACE:trainer" \
  --audiences api://AzureADTokenExchange
az role assignment create --assignee-object-id "$WORKLOAD" --assignee-principal-type ServicePrincipal \
  --role "Storage Blob Data Contributor" --scope "$STORE"
kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NAMESPACE" create serviceaccount trainer --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NAMESPACE" annotate --overwrite serviceaccount trainer "azure.workload.identity/client-id=$CLIENT_ID"

step "9. Entra group -> the worker role: the group holds the operator's identity"
GROUP=$(az ad group create --display-name crosscloud-operators --mail-nickname crosscloud-operators --query id -o tsv)
az ad group member add --group "$GROUP" --member-id "$PRINCIPAL"
echo "Bind the worker role to group $GROUP: deploy/cloud/aks/worker-rbac (set the subject's name to it)."
