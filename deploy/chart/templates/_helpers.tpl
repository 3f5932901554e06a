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

{{/* All labels of a component's objects: selector labels, chart labels, commonLabels and customLabels (the Node Termination Handler's name). */}}
{{- define "sih.labels" -}}
{{ include "sih.selectorLabels" . }}
app.kubernetes.io/part-of: spot-interrupt-handler
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- with merge (deepCopy (default dict .root.Values.customLabels)) (deepCopy .root.Values.commonLabels) }}
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

{{/* The webhook's --node-selector value: k=v pairs of .Values.spotNodeSelector, sorted by key. */}}
{{- define "sih.nodeSelectorFlag" -}}
{{- $pairs := list -}}
{{- range $key, $value := .Values.spotNodeSelector -}}
{{- $pairs = append $pairs (printf "%s=%s" $key (toString $value)) -}}
{{- end -}}
{{- if eq (len $pairs) 0 -}}
{{- fail "spotNodeSelector must have at least one label: it is what the webhook injects" -}}
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

{{/*
The AWS Node Termination Handler's top-level values that are agent settings,
each with the agent.config key it sets (docs/migrating.md). Given, they win
over agent.config, so an NTH values file keeps its meaning.
*/}}
{{- define "sih.nthConfigKeys" -}}
logLevel: logLevel
jsonLogging: jsonLogging
enablePrometheusServer: enablePrometheusServer
prometheusServerPort: prometheusServerPort
enableProbesServer: enableProbesServer
instanceMetadataURL: instanceMetadataUrl
metadataTries: metadataTries
dryRun: dryRun
cordonOnly: cordonOnly
taintNode: taintNode
enableOutOfServiceTaint: enableOutOfServiceTaint
excludeFromLoadBalancers: excludeFromLoadBalancers
deleteLocalData: deleteLocalData
ignoreDaemonSets: ignoreDaemonSets
podTerminationGracePeriod: podTerminationGracePeriod
nodeTerminationGracePeriod: nodeTerminationGracePeriod
emitKubernetesEvents: emitKubernetesEvents
kubernetesEventsExtraAnnotations: kubernetesEventsExtraAnnotations
webhookURL: webhookUrl
webhookHeaders: webhookHeaders
webhookProxy: webhookProxy
webhookTemplate: webhookTemplate
enableSpotInterruptionDraining: enableSpotInterruptionDraining
enableASGLifecycleDraining: enableAsgLifecycleDraining
enableScheduledEventDraining: enableScheduledEventDraining
enableRebalanceMonitoring: enableRebalanceMonitoring
enableRebalanceDraining: enableRebalanceDraining
procUptimeFile: uptimeFromFile
{{- end -}}

{{/*
The agent's settings as the chart passes them, as YAML: agent.config, then the
Node Termination Handler's top-level values (sih.nthConfigKeys, probes.httpGet
and the template ConfigMap, which NTH mounts at /config/). Also refuses the
NTH values that ask for what the agent does not do.
*/}}
{{- define "sih.agentConfig" -}}
{{- $v := .Values -}}
{{- if $v.enableSqsTerminationDraining -}}
{{- fail "enableSqsTerminationDraining: the queue processor (SQS) mode of the Node Termination Handler is not something spot-interrupt-handler does; it handles interruptions on each node from IMDS. Keep NTH for queue mode, or set enableSqsTerminationDraining=false (docs/migrating.md)" -}}
{{- end -}}
{{- if and (hasKey $v "targetNodeOs") (ne (lower (toString $v.targetNodeOs)) "linux") -}}
{{- fail (printf "targetNodeOs %q: only linux is supported; the agent does not run on Windows nodes" (toString $v.targetNodeOs)) -}}
{{- end -}}
{{- $config := deepCopy $v.agent.config -}}
{{- range $nthKey, $key := include "sih.nthConfigKeys" . | fromYaml -}}
{{- if and (hasKey $v $nthKey) (not (kindIs "invalid" (get $v $nthKey))) -}}
{{- $_ := set $config $key (get $v $nthKey) -}}
{{- end -}}
{{- end -}}
{{- with (dig "httpGet" dict (default dict $v.probes)) -}}
{{- if hasKey . "port" }}{{ $_ := set $config "probesServerPort" .port }}{{ end -}}
{{- if hasKey . "path" }}{{ $_ := set $config "probesServerEndpoint" .path }}{{ end -}}
{{- end -}}
{{- $template := include "sih.agentTemplateConfigMap" . | fromYaml -}}
{{- if $template.name -}}
{{- $_ := set $config "webhookTemplateFile" (printf "/config/%s" $template.key) -}}
{{- $_ := unset $config "webhookTemplate" -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{/* The notification template's ConfigMap ({name, key}; name empty when none): NTH's webhookTemplateConfigMapName/Key, else agent.notifications.templateConfigMap. */}}
{{- define "sih.agentTemplateConfigMap" -}}
{{- if and .Values.webhookTemplateConfigMapName .Values.webhookTemplateConfigMapKey -}}
{{- toYaml (dict "name" .Values.webhookTemplateConfigMapName "key" .Values.webhookTemplateConfigMapKey) -}}
{{- else -}}
{{- toYaml .Values.agent.notifications.templateConfigMap -}}
{{- end -}}
{{- end -}}

{{/* Name of the agent's DaemonSet, ServiceAccount and RBAC objects: NTH's fullnameOverride, else agent.name. */}}
{{- define "sih.agentName" -}}
{{- coalesce .Values.fullnameOverride .Values.agent.name -}}
{{- end -}}
