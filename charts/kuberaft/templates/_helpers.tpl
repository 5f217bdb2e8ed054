{{/* Chart name, overridable. */}}
{{- define "kuberaft.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every resource name: the release name, plus the chart name unless it already contains it. */}}
{{- define "kuberaft.fullname" -}}
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

{{- define "kuberaft.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every resource of the chart. */}}
{{- define "kuberaft.labels" -}}
helm.sh/chart: {{ include "kuberaft.chart" . }}
{{ include "kuberaft.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selects the operator's pods (component keeps node pods of a RaftCluster out). */}}
{{- define "kuberaft.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kuberaft.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "kuberaft.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kuberaft.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kuberaft.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Lease through which operator replicas elect the active one. */}}
{{- define "kuberaft.leaseName" -}}
{{- printf "%s-leader" (include "kuberaft.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels the operator puts on every Raft node pod it runs (src/operator sets them). */}}
{{- define "kuberaft.nodePodLabels" -}}
app.kubernetes.io/name: kuberaft
app.kubernetes.io/component: node
{{- end }}

{{/* The pod label naming a node's RaftCluster, in Prometheus' kubernetes_sd meta-label form. */}}
{{- define "kuberaft.nodeClusterLabelMeta" -}}
__meta_kubernetes_pod_label_app_kubernetes_io_instance
{{- end }}

{{/* Name of the node container's API port (client, admin and /metrics; 8001). */}}
{{- define "kuberaft.nodeApiPortName" -}}
api
{{- end }}
