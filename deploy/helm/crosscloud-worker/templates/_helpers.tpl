{{/* The role's name: fullnameOverride, else crosscloud-operator-worker (the name deploy/worker uses, whatever the release). */}}
{{- define "crosscloud-worker.fullname" -}}
{{- default "crosscloud-operator-worker" .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "crosscloud-worker.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "crosscloud-worker.labels" -}}
helm.sh/chart: {{ include "crosscloud-worker.chart" . }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* RBAC subjects from {groups, users, serviceAccounts}. */}}
{{- define "crosscloud-worker.subjects" -}}
{{- range .groups }}
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: {{ . | quote }}
{{- end }}
{{- range .users }}
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: {{ . | quote }}
{{- end }}
{{- range .serviceAccounts }}
- kind: ServiceAccount
  name: {{ .name | quote }}
  namespace: {{ .namespace | quote }}
{{- end }}
{{- end }}
