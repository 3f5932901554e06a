{{/* Namespace of every namespaced object. */}}
{{- define "sih.namespace" -}}
{{- .Values.namespace.name -}}
{{- end -}}

{{/* The one image, tag defaulting to the chart's appVersion. */}}
{{- define "sih.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
Selector labels of a component. Call with (dict "root" $ "name" "..." "component" "...").
The agent's name is spot-interrupt-handler, a handler name the webhook knows.
*/}}
{{- define "sih.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* All labels of a component's objects: selector labels, chart labels, commonLabels. */}}
{{- define "sih.labels" -}}
{{ include "sih.selectorLabels" . }}
app.kubernetes.io/part-of: spot-interrupt-handler
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
metadata.annotations (commonAnnotations plus extra ones), indented for a
top-level object, with its own leading newline; nothing when empty.
Call with (dict "root" $ "extra" (dict ...)).
*/}}
{{- define "sih.annotations" -}}
{{- $all := merge (deepCopy (default dict .extra)) (deepCopy .root.Values.commonAnnotations) -}}
{{- with $all }}
  annotations:
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- end -}}

{{/* Component names, shared by several templates. */}}
{{- define "sih.webhookLabels" -}}{{ include "sih.labels" (dict "root" . "name" .Values.webhook.name "component" "webhook") }}{{- end -}}
{{- define "sih.webhookSelector" -}}{{ include "sih.selectorLabels" (dict "root" . "name" .Values.webhook.name "component" "webhook") }}{{- end -}}
{{- define "sih.certsLabels" -}}{{ include "sih.labels" (dict "root" . "name" "spot-certs" "component" "certs") }}{{- end -}}
{{- define "sih.agentLabels" -}}{{ include "sih.labels" (dict "root" . "name" "spot-interrupt-handler" "component" "agent") }}{{- end -}}
{{- define "sih.agentSelector" -}}{{ include "sih.selectorLabels" (dict "root" . "name" "spot-interrupt-handler" "component" "agent") }}{{- end -}}

{{/* The webhook's --node-selector value: k=v pairs of .Values.nodeSelector, sorted by key. */}}
{{- define "sih.nodeSelectorFlag" -}}
{{- $pairs := list -}}
{{- range $key, $value := .Values.nodeSelector -}}
{{- $pairs = append $pairs (printf "%s=%s" $key (toString $value)) -}}
{{- end -}}
{{- if eq (len $pairs) 0 -}}
{{- fail "nodeSelector must have at least one label: it is what the webhook injects" -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{/* Arguments of the certificate program in in-cluster mode. */}}
{{- define "sih.certsArgs" -}}
- --service={{ .Values.webhook.name }}
- --namespace={{ include "sih.namespace" . }}
- --secret={{ .Values.certs.secretName }}
- --webhook-config={{ .Values.webhook.configurationName }}
- --days={{ .Values.certs.days }}
- --key-type={{ .Values.certs.keyType }}
- --renew-before={{ .Values.certs.renewBeforeDays }}
{{- end -}}

{{/* Pod spec of the certificate job and its renewal CronJob. */}}
{{- define "sih.certsPodSpec" -}}
serviceAccountName: spot-certs
restartPolicy: OnFailure
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.certs.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.certs.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: certs
    image: {{ include "sih.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    # The built program with the V8 flags of deploy/build.ts (NODE_FLAGS).
    command: [node, --max-semi-space-size=1, --no-opt, --no-maglev, --no-sparkplug, --liftoff-only, /app/spot-certs.mjs]
    args:
      {{- include "sih.certsArgs" . | nindent 6 }}
    resources:
      {{- toYaml .Values.certs.resources | nindent 6 }}
    securityContext:
      {{- toYaml .Values.containerSecurityContext | nindent 6 }}
{{- end -}}
