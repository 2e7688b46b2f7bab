{{/* Checks across values that the schema cannot express; each failure names the value to fix. */}}
{{- define "shirube.validate" -}}
{{- $seen := dict -}}
{{- $covered := dict -}}
{{- range .Values.workers -}}
{{- if hasKey $seen .name -}}
{{- fail (printf "workers: two workers are named %q; each becomes a Deployment and needs its own name" .name) -}}
{{- end -}}
{{- $_ := set $seen .name true -}}
{{- range .queues }}{{ $_ := set $covered . true }}{{ end -}}
{{- end -}}
{{- range list "celery" "sync" "deployments" "notifications" "watch" -}}
{{- if not (hasKey $covered .) -}}
{{- fail (printf "workers: no worker consumes the %q queue, so its tasks would never run; add it to a worker's queues" .) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.web.autoscaling.enabled (lt (int .Values.web.autoscaling.maxReplicas) (int .Values.web.autoscaling.minReplicas)) -}}
{{- fail "web.autoscaling.maxReplicas is below web.autoscaling.minReplicas" -}}
{{- end -}}
{{- if and .Values.rbac.fluxActions.enabled (eq .Values.rbac.fluxActions.scope "namespaces") (not .Values.rbac.fluxActions.namespaces) -}}
{{- fail "rbac.fluxActions.scope is namespaces but rbac.fluxActions.namespaces is empty" -}}
{{- end -}}
{{- end -}}
