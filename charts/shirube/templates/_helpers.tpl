{{/* Object names: <fullname>-web, <fullname>-beat, ...; "shirube" unless overridden. */}}
{{- define "shirube.fullname" -}}
{{- default "shirube" .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "shirube.serviceAccountName" -}}
{{- default (include "shirube.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* Labels on every object. helmLabels: false leaves out Helm's own (plain manifests in deploy/). */}}
{{- define "shirube.labels" -}}
app.kubernetes.io/name: shirube
app.kubernetes.io/part-of: shirube
{{- if .Values.helmLabels }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "web"). */}}
{{- define "shirube.selectorLabels" -}}
app.kubernetes.io/name: shirube
{{- if .root.Values.helmLabels }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "shirube.componentLabels" -}}
{{ include "shirube.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The image: a digest wins over a tag; the tag defaults to the chart's appVersion. */}}
{{- define "shirube.image" -}}
{{- $i := .Values.image -}}
{{- if $i.digest -}}
{{ $i.repository }}@{{ $i.digest }}
{{- else -}}
{{ $i.repository }}:{{ default .Chart.AppVersion $i.tag }}
{{- end -}}
{{- end -}}

{{/* The pod-level security context every pod shares (restricted Pod Security Standard). */}}
{{- define "shirube.podSecurityContext" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001  # the `shirube` user of the Dockerfile
  runAsGroup: 10001
  fsGroup: 10001  # makes the mounted secret file readable (mode 0440)
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{- define "shirube.containerSecurityContext" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
{{- end -}}

{{/* Configuration: the ConfigMap, then the Secret by reference only (never a value), then extraEnv. */}}
{{- define "shirube.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "shirube.fullname" . }}-config
env:
  - name: SECRET_KEY_FILE
    value: /etc/shirube/secrets/SECRET_KEY
{{- range list "DATABASE_URL" "REDIS_URL" "CELERY_BROKER_URL" }}
  - name: {{ . }}
    valueFrom:
      secretKeyRef:
        name: {{ $.Values.secrets.name }}
        key: {{ . }}
{{- end }}
{{- if .Values.secrets.slack.name }}
  - name: SHIRUBE_SLACK_BOT_TOKEN_FILE
    value: /etc/shirube/slack/SLACK_BOT_TOKEN
  - name: SHIRUBE_SLACK_SIGNING_SECRET_FILE
    value: /etc/shirube/slack/SLACK_SIGNING_SECRET
{{- end }}
{{- if .Values.secrets.smtp.name }}
  - name: EMAIL_HOST_PASSWORD_FILE
    value: /etc/shirube/smtp/EMAIL_HOST_PASSWORD
{{- end }}
{{- end -}}


{{/* Scheduling: a component's own nodeSelector/tolerations, else the chart-wide ones. */}}
{{- define "shirube.scheduling" -}}
{{- $ns := .component.nodeSelector | default .root.Values.nodeSelector -}}
{{- $tol := .component.tolerations | default .root.Values.tolerations -}}
{{- with $ns }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $tol }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Scrape annotations for a pod whose container <container> serves /metrics on the metrics port:
     prometheus.io/* and a Datadog Autodiscovery openmetrics check, as the observability lessons teach. */}}
{{- define "shirube.metricsAnnotations" -}}
{{- $m := .root.Values.metrics -}}
{{- if $m.enabled }}
{{- if $m.prometheusAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ $m.port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- if $m.datadog.enabled }}
{{- $instance := dict "openmetrics_endpoint" (printf "http://%%%%host%%%%:%v/metrics" $m.port) "namespace" $m.datadog.namespace "metrics" $m.datadog.metrics }}
ad.datadoghq.com/{{ .container }}.checks: {{ dict "openmetrics" (dict "init_config" dict "instances" (list $instance)) | toJson | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The ports of a container that serves metrics. */}}
{{- define "shirube.metricsPort" -}}
{{- if .Values.metrics.enabled }}
- name: metrics
  containerPort: {{ .Values.metrics.port }}
  protocol: TCP
{{- end }}
{{- end -}}

{{- define "shirube.celeryProbes" -}}
# Celery answers `inspect ping` through the broker from its main process, also while the pool
# is busy. Its node name ends in @<hostname>, and the hostname is the pod name. (~1 s, ~55 MB.)
startupProbe:
  exec:
    command: ["sh", "-c", "exec celery -A portal inspect ping -d {{ .node }}@$HOSTNAME --timeout 10"]
  periodSeconds: 10
  timeoutSeconds: 20
  failureThreshold: 18
readinessProbe:
  exec:
    command: ["sh", "-c", "exec celery -A portal inspect ping -d {{ .node }}@$HOSTNAME --timeout 10"]
  periodSeconds: 60
  timeoutSeconds: 20
  failureThreshold: 3
livenessProbe:
  exec:
    command: ["sh", "-c", "exec celery -A portal inspect ping -d {{ .node }}@$HOSTNAME --timeout 10"]
  periodSeconds: 60
  timeoutSeconds: 20
  failureThreshold: 5
lifecycle:
  preStop:
    # No traffic to drain: a short pause so every container follows the same rule.
    sleep:
      seconds: 5
{{- end -}}

{{- define "shirube.volumeMounts" -}}
- name: var
  mountPath: /app/var
- name: tmp
  mountPath: /tmp
- name: secrets
  mountPath: /etc/shirube/secrets
  readOnly: true
{{- if .Values.secrets.slack.name }}
- name: slack
  mountPath: /etc/shirube/slack
  readOnly: true
{{- end }}
{{- if .Values.secrets.smtp.name }}
- name: smtp
  mountPath: /etc/shirube/smtp
  readOnly: true
{{- end }}
{{- end -}}

{{- define "shirube.volumes" -}}
- name: var
  emptyDir:
    sizeLimit: {{ .varSize }}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: 64Mi
- name: secrets
  secret:
    secretName: {{ .root.Values.secrets.name }}
    items:
      - key: SECRET_KEY
        path: SECRET_KEY
    defaultMode: 0440
{{- with .root.Values.secrets.slack.name }}
- name: slack
  secret:
    secretName: {{ . }}
    items:
      - key: SLACK_BOT_TOKEN
        path: SLACK_BOT_TOKEN
      - key: SLACK_SIGNING_SECRET
        path: SLACK_SIGNING_SECRET
    defaultMode: 0440
{{- end }}
{{- with .root.Values.secrets.smtp.name }}
- name: smtp
  secret:
    secretName: {{ . }}
    items:
      - key: EMAIL_HOST_PASSWORD
        path: EMAIL_HOST_PASSWORD
    defaultMode: 0440
{{- end }}
{{- end -}}
