{{/* Names and labels. */}}
{{- define "llmgw.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "llmgw.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "llmgw.labels" -}}
{{ include "llmgw.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "llmgw.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "llmgw.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The config table (files/config.env, `llmgw config env`) as YAML: {defaults: {ENV: "default"}, secrets: [ENV]}.
     Read with fromYaml. */}}
{{- define "llmgw.table" -}}
defaults:
{{- range .Files.Lines "files/config.env" }}
{{- if regexMatch "^LLMGW_[A-Z0-9_]+=" . }}
{{- $kv := regexSplit "=" . 2 }}
  {{ index $kv 0 }}: {{ index $kv 1 | quote }}
{{- end }}
{{- end }}
secrets:
{{- range .Files.Lines "files/config.env" }}
{{- if regexMatch "^# secret: LLMGW_[A-Z0-9_]+$" . }}
  - {{ trimPrefix "# secret: " . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Settings this chart sets from its own values, per pod: never in the ConfigMap, refused in .Values.config. */}}
{{- define "llmgw.managed" -}}
LLMGW_LISTEN_ADDR LLMGW_PORT LLMGW_OPS_PORT LLMGW_INGRESS_OPS_PORT LLMGW_KAFKA_BROKERS LLMGW_DATABASE_URL LLMGW_REDIS_URL LLMGW_INGRESS_ID LLMGW_WORKER_ID LLMGW_SHUTDOWN_GRACE_MS LLMGW_CONFIG
{{- if .Values.kafka.sasl.enabled }} {{ .Values.kafka.sasl.usernameEnv }}{{ end }}
{{- end -}}

{{/* The drain in whole seconds: shutdownGraceMs rounded up. */}}
{{- define "llmgw.drainSeconds" -}}
{{- div (add (int64 .Values.shutdownGraceMs) 999) 1000 -}}
{{- end -}}

{{/* terminationGracePeriodSeconds: preStop sleep + drain + margin. Args: dict root, preStop (seconds). */}}
{{- define "llmgw.terminationGrace" -}}
{{- add (int64 .preStop) (include "llmgw.drainSeconds" .root | int64) (int64 .root.Values.drainMarginSeconds) -}}
{{- end -}}

{{/* The topic prefix in effect: the config override, else the table's default. */}}
{{- define "llmgw.topicPrefix" -}}
{{- $table := fromYaml (include "llmgw.table" .) -}}
{{- default (index $table.defaults "LLMGW_TOPIC_PREFIX") (index .Values.config "LLMGW_TOPIC_PREFIX") -}}
{{- end -}}

{{- define "llmgw.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Checks the values that templates cannot express as types; fails the render with the reason. */}}
{{- define "llmgw.validate" -}}
{{- $table := fromYaml (include "llmgw.table" .) -}}
{{- if not $table.defaults -}}
{{- fail "files/config.env holds no settings: run scripts/helm_config.sh" -}}
{{- end -}}
{{- $managed := splitList " " (include "llmgw.managed" .) -}}
{{- range $name, $value := .Values.config -}}
{{- if has $name $table.secrets -}}
{{- fail (printf "config.%s is a secret: put it in the Secret named by providers.existingSecret" $name) -}}
{{- else if has $name $managed -}}
{{- fail (printf "config.%s is set by the chart from its own values (README.md, \"Values\")" $name) -}}
{{- else if not (hasKey $table.defaults $name) -}}
{{- fail (printf "config.%s is not an llmgw setting (docs/CONFIG.md)" $name) -}}
{{- end -}}
{{- if or (kindIs "map" $value) (kindIs "slice" $value) -}}
{{- fail (printf "config.%s must be a string or a number" $name) -}}
{{- end -}}
{{- end -}}
{{- if not .Values.database.existingSecret -}}
{{- fail "database.existingSecret is required: a Secret with the PostgreSQL URL under database.urlKey" -}}
{{- end -}}
{{- if and .Values.redis.enabled (not .Values.redis.existingSecret) -}}
{{- fail "redis.enabled needs redis.existingSecret: a Secret with the Redis URL under redis.urlKey" -}}
{{- end -}}
{{- if and .Values.kafka.sasl.enabled (not .Values.kafka.sasl.existingSecret) -}}
{{- fail "kafka.sasl.enabled needs kafka.sasl.existingSecret" -}}
{{- end -}}
{{- if and .Values.ingress.autoscaling.enabled (not (dig "requests" "cpu" "" .Values.ingress.resources)) -}}
{{- fail "ingress.autoscaling scales on CPU utilisation: set ingress.resources.requests.cpu" -}}
{{- end -}}
{{- end -}}

{{/* The environment of one role's container. Args: dict root, role, db (bool), redis (bool), providers (bool),
     env (list of extra name/value maps). */}}
{{- define "llmgw.env" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
- name: LLMGW_LISTEN_ADDR
  value: "0.0.0.0"
- name: LLMGW_KAFKA_BROKERS
  value: {{ $v.kafka.brokers | quote }}
- name: LLMGW_SHUTDOWN_GRACE_MS
  value: {{ $v.shutdownGraceMs | int64 | quote }}
{{- range .env }}
- {{ toYaml . | nindent 2 | trim }}
{{- end }}
{{- if $v.configFile }}
- name: LLMGW_CONFIG
  value: /etc/llmgw/config.json
{{- end }}
{{- if .db }}
- name: LLMGW_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.database.existingSecret }}
      key: {{ $v.database.urlKey }}
{{- if $v.database.passwordKey }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.database.existingSecret }}
      key: {{ $v.database.passwordKey }}
{{- end }}
{{- end }}
{{- if and .redis $v.redis.enabled }}
- name: LLMGW_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.redis.existingSecret }}
      key: {{ $v.redis.urlKey }}
{{- end }}
{{- if $v.kafka.sasl.enabled }}
- name: {{ $v.kafka.sasl.usernameEnv }}
  valueFrom:
    secretKeyRef:
      name: {{ $v.kafka.sasl.existingSecret }}
      key: {{ $v.kafka.sasl.usernameKey }}
- name: {{ $v.kafka.sasl.passwordEnv }}
  valueFrom:
    secretKeyRef:
      name: {{ $v.kafka.sasl.existingSecret }}
      key: {{ $v.kafka.sasl.passwordKey }}
{{- /* The client key's password and secret librdkafka properties, when the Secret holds them. */}}
{{- range list "LLMGW_KAFKA_SSL_KEY_PASSWORD" "LLMGW_KAFKA_SECRET_PROPERTIES" }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $v.kafka.sasl.existingSecret }}
      key: {{ . }}
      optional: true
{{- end }}
{{- end }}
{{- if and .providers $v.providers.existingSecret }}
{{- $table := fromYaml (include "llmgw.table" $root) }}
{{- range $table.secrets }}
{{- if hasSuffix "_API_KEY" . }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $v.providers.existingSecret }}
      key: {{ . }}
      optional: true
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* One role's Deployment. Args: dict root, role, v (the role's values), args (list), opsPort, ports (list of
     containerPorts besides ops), preStop (seconds), db, redis, providers, env. */}}
{{- define "llmgw.deployment" -}}
{{- $root := .root -}}
{{- $v := .v -}}
{{- $labels := dict "root" $root "role" .role -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "llmgw.fullname" $root }}-{{ .role }}
  labels:
    {{- include "llmgw.labels" $labels | nindent 4 }}
spec:
  {{- if not (dig "autoscaling" "enabled" false $v) }}
  replicas: {{ $v.replicas }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "llmgw.selectorLabels" $labels | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  template:
    metadata:
      labels:
        {{- include "llmgw.labels" $labels | nindent 8 }}
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        {{- if $root.Values.metrics.podAnnotations }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ .opsPort | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "llmgw.serviceAccountName" $root }}
      automountServiceAccountToken: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ include "llmgw.terminationGrace" (dict "root" $root "preStop" .preStop) }}
      containers:
        - name: {{ .role }}
          image: {{ include "llmgw.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args:
            {{- toYaml .args | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          ports:
            {{- range .ports }}
            - {{ toYaml . | nindent 14 | trim }}
            {{- end }}
            - name: ops
              containerPort: {{ .opsPort }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ include "llmgw.fullname" $root }}-config
          env:
            {{- include "llmgw.env" . | nindent 12 }}
          startupProbe:
            httpGet:
              path: /healthz
              port: ops
            periodSeconds: {{ $root.Values.probes.startup.periodSeconds }}
            failureThreshold: {{ $root.Values.probes.startup.failureThreshold }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: ops
            periodSeconds: {{ $root.Values.probes.liveness.periodSeconds }}
            timeoutSeconds: {{ $root.Values.probes.liveness.timeoutSeconds }}
            failureThreshold: {{ $root.Values.probes.liveness.failureThreshold }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: ops
            periodSeconds: {{ $root.Values.probes.readiness.periodSeconds }}
            timeoutSeconds: {{ $root.Values.probes.readiness.timeoutSeconds }}
            failureThreshold: {{ $root.Values.probes.readiness.failureThreshold }}
          {{- if gt (int64 .preStop) 0 }}
          lifecycle:
            preStop:
              sleep:
                seconds: {{ .preStop }}
          {{- end }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            - name: data
              mountPath: /var/lib/llmgw
            {{- if $root.Values.configFile }}
            - name: config-file
              mountPath: /etc/llmgw
              readOnly: true
            {{- end }}
      volumes:
        # The root filesystem is read-only: scratch space and the image's working directory are emptyDirs.
        - name: tmp
          emptyDir: {}
        - name: data
          emptyDir: {}
        {{- if $root.Values.configFile }}
        - name: config-file
          configMap:
            name: {{ include "llmgw.fullname" $root }}-config-file
        {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/* One role's PodDisruptionBudget. Args: dict root, role, pdb. */}}
{{- define "llmgw.pdb" -}}
{{- $labels := dict "root" .root "role" .role -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "llmgw.fullname" .root }}-{{ .role }}
  labels:
    {{- include "llmgw.labels" $labels | nindent 4 }}
spec:
  {{- if hasKey .pdb "minAvailable" }}
  minAvailable: {{ .pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .pdb.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "llmgw.selectorLabels" $labels | nindent 6 }}
{{- end -}}
