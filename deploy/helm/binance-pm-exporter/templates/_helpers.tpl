{{- define "bpe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Short enough that "<fullname>-b-<ordinal>" stays a valid pod name. */}}
{{- define "bpe.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "bpe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bpe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "bpe.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "bpe.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "bpe.configMapName" -}}
{{- default (include "bpe.fullname" .) .Values.config.existingConfigMap -}}
{{- end -}}

{{/* The rules' and dashboards' job selector, rewritten to the job the ServiceMonitor sets. */}}
{{- define "bpe.withJob" -}}
{{- $job := .root.Values.monitoring.job -}}
{{- if .json -}}
{{- .text | replace "job=\\\"binance-pm-exporter\\\"" (printf "job=\\\"%s\\\"" $job) -}}
{{- else -}}
{{- .text | replace "job=\"binance-pm-exporter\"" (printf "job=%q" $job) -}}
{{- end -}}
{{- end -}}
