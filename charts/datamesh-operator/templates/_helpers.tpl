{{/* Chart name, shortened to the 63 characters of a DNS label. */}}
{{- define "datamesh-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects; the release name alone when it already contains the chart name. */}}
{{- define "datamesh-operator.fullname" -}}
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

{{/* name-version of the chart, for the helm.sh/chart label. */}}
{{- define "datamesh-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "datamesh-operator.labels" -}}
helm.sh/chart: {{ include "datamesh-operator.chart" . }}
{{ include "datamesh-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: datamesh-operator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels (immutable in a Deployment: never add to them). */}}
{{- define "datamesh-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "datamesh-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The operator's ServiceAccount. */}}
{{- define "datamesh-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "datamesh-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image of the operator and the API. */}}
{{- define "datamesh-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Image of build pods and Spark executors (defaults to the operator's). */}}
{{- define "datamesh-operator.buildImage" -}}
{{- $repo := default .Values.image.repository .Values.builds.image.repository }}
{{- $tag := default (default .Chart.AppVersion .Values.image.tag) .Values.builds.image.tag }}
{{- printf "%s:%s" $repo $tag }}
{{- end }}

{{/* Webhook Service name and the host name the API server calls (kopf builds the URL from it and the port). */}}
{{- define "datamesh-operator.webhookService" -}}
{{- printf "%s-webhook" (include "datamesh-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "datamesh-operator.webhookHost" -}}
{{- printf "%s.%s.svc" (include "datamesh-operator.webhookService" .) .Release.Namespace }}
{{- end }}

{{/* Name of the Secret with the webhook's ca.crt/tls.crt/tls.key. */}}
{{- define "datamesh-operator.webhookSecret" -}}
{{- if eq .Values.webhook.certs.source "secret" }}
{{- required "webhook.certs.secretName is required with webhook.certs.source=secret" .Values.webhook.certs.secretName }}
{{- else }}
{{- printf "%s-webhook-tls" (include "datamesh-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Catalog API object names and labels. */}}
{{- define "datamesh-operator.apiName" -}}
{{- printf "%s-api" (include "datamesh-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "datamesh-operator.apiSelectorLabels" -}}
{{ include "datamesh-operator.selectorLabels" . }}
app.kubernetes.io/component: catalog-api
{{- end }}
{{- define "datamesh-operator.operatorSelectorLabels" -}}
{{ include "datamesh-operator.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/* The restricted-profile container security context every container of the chart uses. */}}
{{- define "datamesh-operator.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
A map of labels as `key=value,...`, sorted (DATAMESH_ALERT_RULE_LABELS).
*/}}
{{- define "datamesh-operator.labelList" -}}
{{- $items := list -}}
{{- range $key, $value := . -}}
{{- $items = append $items (printf "%s=%s" $key $value) -}}
{{- end -}}
{{- join "," $items -}}
{{- end -}}
