{{/* Names, labels and the Redis URL source shared by the templates. */}}

{{- define "relayfleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "relayfleet.fullname" -}}
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

{{- define "relayfleet.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "relayfleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: relayfleet
{{- end }}

{{- define "relayfleet.operatorSelector" -}}
app.kubernetes.io/name: {{ include "relayfleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "relayfleet.redisSelector" -}}
app.kubernetes.io/name: {{ include "relayfleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end }}

{{- define "relayfleet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "relayfleet.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "relayfleet.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "relayfleet.redisHost" -}}
{{- printf "%s-redis.%s.svc" (include "relayfleet.fullname" .) .Release.Namespace }}
{{- end }}

{{/* The bundled Redis's Secret: its password and the URL with it (redis.yaml makes it). */}}
{{- define "relayfleet.internalRedisSecretName" -}}
{{- printf "%s-redis" (include "relayfleet.fullname" .) }}
{{- end }}

{{/* Where the Redis URL lives: a Secret name and key. URLs never appear in rendered specs. */}}
{{- define "relayfleet.redisSecretName" -}}
{{- if .Values.redis.install }}{{ include "relayfleet.internalRedisSecretName" . }}{{ else if .Values.redis.existingSecret.name }}{{ .Values.redis.existingSecret.name }}{{ else }}{{ include "relayfleet.fullname" . }}-redis-url{{ end }}
{{- end }}

{{- define "relayfleet.redisSecretKey" -}}
{{- if and (not .Values.redis.install) .Values.redis.existingSecret.name }}{{ .Values.redis.existingSecret.key }}{{ else }}url{{ end }}
{{- end }}

{{/* The namespace the example pool and route go to. */}}
{{- define "relayfleet.examplesNamespace" -}}
{{- default .Release.Namespace .Values.examples.namespace }}
{{- end }}

{{/*
  The namespaces whose Secrets the operator may get and create, as a JSON list:
  rbac.poolNamespaces, or the release namespace when it is empty; the
  examples' namespace is always added when the examples are on.
*/}}
{{- define "relayfleet.poolNamespaces" -}}
{{- $list := .Values.rbac.poolNamespaces | default (list .Release.Namespace) }}
{{- if .Values.examples.enabled }}
{{- $list = append $list (include "relayfleet.examplesNamespace" .) }}
{{- end }}
{{- $list | uniq | toJson }}
{{- end }}

{{/* The restricted Pod Security level's container settings, shared by every container of the chart. */}}
{{- define "relayfleet.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities: { drop: [ALL] }
seccompProfile: { type: RuntimeDefault }
{{- end }}

{{/* Cross-field rules that values.schema.json cannot say clearly. */}}
{{- define "relayfleet.validate" -}}
{{- $r := .Values.redis }}
{{- if and (not $r.install) (not $r.url) (not $r.existingSecret.name) }}
{{- fail "redis: with redis.install=false set redis.url (redis://...) or redis.existingSecret.name (a Secret holding the URL)" }}
{{- end }}
{{- if and $r.url $r.existingSecret.name }}
{{- fail "redis: set redis.url or redis.existingSecret.name, not both" }}
{{- end }}
{{- if and $r.install (or $r.url $r.existingSecret.name) }}
{{- fail "redis: redis.install=true runs a Redis in this release; unset redis.url and redis.existingSecret.name, or set redis.install=false to use yours" }}
{{- end }}
{{- end }}


{{/* An alert's runbook text, and runbook_url when monitoring.prometheusRule.runbookBaseUrl is set. */}}
{{- define "relayfleet.runbook" -}}
{{- $book := index . 0 }}
{{- $p := index . 1 }}
{{- $name := index . 2 }}
runbook: {{ get $book $name | quote }}
{{- with $p.runbookBaseUrl }}
runbook_url: {{ printf "%s#%s" . (lower $name) | quote }}
{{- end }}
{{- end }}
