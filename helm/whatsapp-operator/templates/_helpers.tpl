{{/* Chart name, truncated to the DNS label limit. */}}
{{- define "whatsapp-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: the release name, plus the chart name unless included. */}}
{{- define "whatsapp-operator.fullname" -}}
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

{{- define "whatsapp-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "whatsapp-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "whatsapp-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "whatsapp-operator.labels" -}}
helm.sh/chart: {{ include "whatsapp-operator.chart" . }}
{{ include "whatsapp-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: whatsapp-operator
{{- end }}

{{- define "whatsapp-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "whatsapp-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository@digest when image.digest is set (the tag is then ignored), else repository:tag. */}}
{{- define "whatsapp-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The Deployments: one, or one per entry of `shards`. Each item: name (the Deployment's, also
its Lease's and its PodDisruptionBudget's), shard (the entry), index. Shared by the
Deployment and PodDisruptionBudget templates so that their names and selectors agree.
*/}}
{{- define "whatsapp-operator.deployments" -}}
{{- $fullname := include "whatsapp-operator.fullname" . }}
{{- $items := list }}
{{- range $index, $shard := (.Values.shards | default (list (dict))) }}
{{- $name := $fullname }}
{{- if $shard.name }}
{{- $name = printf "%s-%s" $fullname $shard.name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- $items = append $items (dict "name" $name "shard" $shard "index" $index) }}
{{- end }}
{{- toJson $items }}
{{- end }}

{{/* The pod labels a Deployment selects: the release's, plus the shard's when sharded. */}}
{{- define "whatsapp-operator.deploymentSelectorLabels" -}}
{{- include "whatsapp-operator.selectorLabels" .root }}
{{- if .shard.name }}
whatsapp-operator.io/shard: {{ .shard.name | quote }}
{{- end }}
{{- end }}

{{/*
The `helm test` pod's labels: distinct from the operator's selector labels, so that neither
the Deployments, the Services, the PodMonitor nor the NetworkPolicy's podSelector take it
for an operator pod.
*/}}
{{- define "whatsapp-operator.testLabels" -}}
helm.sh/chart: {{ include "whatsapp-operator.chart" . }}
app.kubernetes.io/name: {{ printf "%s-test" (include "whatsapp-operator.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: helm-test
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: whatsapp-operator
{{- end }}
