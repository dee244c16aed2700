{{/*
Names and labels. With the release name crosscloud-operator (or any name containing
"crosscloud-operator") every object is named crosscloud-operator[-suffix], as the
kustomize base deploy/operator names them.
*/}}

{{/* The chart's name (nameOverride), also the app.kubernetes.io/name label. */}}
{{- define "crosscloud-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The base of every object name: fullnameOverride, else the release name when it contains the chart name, else <release>-<chart>. */}}
{{- define "crosscloud-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* helm.sh/chart label value. */}}
{{- define "crosscloud-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The pods' selector. Only app.kubernetes.io/name, as the kustomize base selects, so the two
install the same Deployment (a selector cannot change once created). One release per
namespace: the leader Lease's name is fixed (crosscloud-operator-leader) anyway.
*/}}
{{- define "crosscloud-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "crosscloud-operator.name" . }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "crosscloud-operator.labels" -}}
helm.sh/chart: {{ include "crosscloud-operator.chart" . }}
{{ include "crosscloud-operator.selectorLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The operator's ServiceAccount. */}}
{{- define "crosscloud-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "crosscloud-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image: repository:tag (tag defaults to the chart's appVersion), or repository@digest. */}}
{{- define "crosscloud-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Where the leader Lease lives: leaderElection.namespace, else the release namespace. */}}
{{- define "crosscloud-operator.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace }}
{{- end }}

{{/* Whether the catalog ConfigMap is rendered and mounted. */}}
{{- define "crosscloud-operator.catalogEnabled" -}}
{{- if .Values.catalog.instanceTypes }}true{{ end }}
{{- end }}

{{/* The health/metrics Service's name. */}}
{{- define "crosscloud-operator.metricsServiceName" -}}
{{- printf "%s-metrics" (include "crosscloud-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
