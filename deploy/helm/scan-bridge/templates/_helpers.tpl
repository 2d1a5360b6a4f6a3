{{/* The chart's name, and the release's name for its objects (63 characters at most, a DNS label). */}}
{{- define "scan-bridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "scan-bridge.fullname" -}}
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

{{/* Labels of every object; the selector labels pick the bridge's pods. */}}
{{- define "scan-bridge.labels" -}}
{{ include "scan-bridge.commonLabels" . }}
app.kubernetes.io/component: bridge
{{- end }}

{{- define "scan-bridge.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "scan-bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "scan-bridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scan-bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: bridge
{{- end }}

{{/*
The NATS URL: natsClient.url, or the client Service of the bundled NATS
chart, which names it as its own "nats.fullname" does (release name, with
"-nats" unless the release name contains "nats").
*/}}
{{- define "scan-bridge.natsURL" -}}
{{- if .Values.natsClient.url }}
{{- .Values.natsClient.url }}
{{- else if .Values.nats.enabled }}
{{- $name := default "nats" .Values.nats.nameOverride }}
{{- $svc := "" }}
{{- if .Values.nats.fullnameOverride }}
{{- $svc = .Values.nats.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains $name .Release.Name }}
{{- $svc = .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $svc = printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- printf "nats://%s:4222" $svc }}
{{- else }}
{{- fail "natsClient.url: set it to your NATS servers (nats://host:4222), or set nats.enabled=true for the bundled NATS chart" }}
{{- end }}
{{- end }}

{{/*
Every secret file the bridge reads, as a JSON list of {secret, key, path,
setting, env}: path is /run/secrets/<secret>/<key>; setting is the config
path that gets it, env the environment variable that gets it. Receivers'
files are in scan-bridge.config.
*/}}
{{- define "scan-bridge.secretFiles" -}}
{{- $files := list }}
{{- with .Values.hss.credentials }}
{{- if and .secretName .accessKeyKey }}
{{- $files = append $files (dict "secret" .secretName "key" .accessKeyKey "env" "HUAWEICLOUD_SDK_AK_FILE") }}
{{- end }}
{{- if and .secretName .secretKeyKey }}
{{- $files = append $files (dict "secret" .secretName "key" .secretKeyKey "env" "HUAWEICLOUD_SDK_SK_FILE") }}
{{- end }}
{{- if and .secretName .securityTokenKey }}
{{- $files = append $files (dict "secret" .secretName "key" .securityTokenKey "env" "HUAWEICLOUD_SDK_SECURITY_TOKEN_FILE") }}
{{- end }}
{{- end }}
{{- with .Values.admin.tokenSecret }}
{{- if .name }}
{{- $files = append $files (dict "secret" .name "key" (required "admin.tokenSecret.key" .key) "setting" "admin.token_file") }}
{{- end }}
{{- end }}
{{- with .Values.natsClient }}
{{- if .credsSecret.name }}
{{- $files = append $files (dict "secret" .credsSecret.name "key" (required "natsClient.credsSecret.key" .credsSecret.key) "setting" "nats.creds_file") }}
{{- end }}
{{- if and .user .passwordSecret.name }}
{{- $files = append $files (dict "secret" .passwordSecret.name "key" (required "natsClient.passwordSecret.key" .passwordSecret.key) "setting" "nats.password_file") }}
{{- end }}
{{- end }}
{{- range $i, $f := .Values.secretFiles }}
{{- $files = append $files (dict "secret" (required (printf "secretFiles[%d].name" $i) $f.name) "key" (required (printf "secretFiles[%d].key" $i) $f.key) "setting" (required (printf "secretFiles[%d].setting" $i) $f.setting)) }}
{{- end }}
{{- range $r := .Values.receivers }}
{{- range $i, $ref := (($r.auth | default dict).secretRefs | default list) }}
{{- $files = append $files (dict "secret" (required (printf "receivers[%s].auth.secretRefs[%d].name" $r.name $i) $ref.name) "key" (required (printf "receivers[%s].auth.secretRefs[%d].key" $r.name $i) $ref.key)) }}
{{- end }}
{{- end }}
{{- range $files }}
{{- $_ := set . "path" (printf "/run/secrets/%s/%s" .secret .key) }}
{{- end }}
{{- toJson $files }}
{{- end }}

{{/*
Fail when a value would put a secret into the ConfigMap: the config's own
secret settings (the *_file variants are the way) and inline receiver secrets.
*/}}
{{- define "scan-bridge.noInlineSecrets" -}}
{{- $cfg := .Values.config | default dict }}
{{- range $path := list "hss.access_key" "hss.secret_key" "hss.security_token" "hss.token" "hss.iam.password" "admin.token" "nats.password" }}
{{- $node := $cfg }}
{{- range $part := splitList "." $path }}
{{- if kindIs "map" $node }}{{ $node = get $node $part }}{{ else }}{{ $node = "" }}{{ end }}
{{- end }}
{{- if $node }}
{{- fail (printf "config.%s: a secret in values ends up in a ConfigMap; put it in a Secret and name it (see values.yaml: hss.credentials, admin.tokenSecret, natsClient, secretFiles)" $path) }}
{{- end }}
{{- end }}
{{- range .Values.receivers }}
{{- if (.auth | default dict).secrets }}
{{- fail (printf "receivers[%s].auth.secrets: a secret in values ends up in a ConfigMap; put it in a Secret and name it in auth.secretRefs" .name) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The bridge's configuration file. */}}
{{- define "scan-bridge.config" -}}
{{- include "scan-bridge.noInlineSecrets" . }}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- $http := get $cfg "http" | default dict }}
{{- $_ := set $http "listen" (printf ":%d" (int .Values.ports.http)) }}
{{- $_ := set $cfg "http" $http }}
{{- $admin := get $cfg "admin" | default dict }}
{{- $_ := set $admin "listen" (printf ":%d" (int .Values.ports.admin)) }}
{{- $_ := set $cfg "admin" $admin }}
{{- $nats := get $cfg "nats" | default dict }}
{{- $_ := set $nats "url" (include "scan-bridge.natsURL" .) }}
{{- if and .Values.natsClient.user .Values.natsClient.passwordSecret.name }}
{{- $_ := set $nats "user" .Values.natsClient.user }}
{{- end }}
{{- $_ := set $cfg "nats" $nats }}
{{- range (include "scan-bridge.secretFiles" . | fromJsonArray) }}
{{- if .setting }}
{{- $node := $cfg }}
{{- $parts := splitList "." .setting }}
{{- range initial $parts }}
{{- if not (kindIs "map" (get $node .)) }}{{ $_ := set $node . dict }}{{ end }}
{{- $node = get $node . }}
{{- end }}
{{- $_ := set $node (last $parts) .path }}
{{- end }}
{{- end }}
{{- $receivers := list }}
{{- range .Values.receivers }}
{{- $r := deepCopy . }}
{{- $auth := get $r "auth" | default dict }}
{{- $files := get $auth "secret_files" | default list }}
{{- range (get $auth "secretRefs" | default list) }}
{{- $files = append $files (printf "/run/secrets/%s/%s" .name .key) }}
{{- end }}
{{- $_ := unset $auth "secretRefs" }}
{{- if $files }}{{ $_ := set $auth "secret_files" $files }}{{ end }}
{{- $_ := set $r "auth" $auth }}
{{- $receivers = append $receivers $r }}
{{- end }}
{{- if not $receivers }}
{{- fail "receivers: at least one receiver is needed (see values.yaml)" }}
{{- end }}
{{- $_ := set $cfg "receivers" $receivers }}
{{- toYaml $cfg }}
{{- end }}

{{/*
GOMEMLIMIT: 90 % of resources.limits.memory, in bytes. A resourceFieldRef
(limits.memory with a divisor) can only give the whole limit in a unit, not a
fraction of it, and a soft limit equal to the hard one leaves the garbage
collector no room before the kernel's OOM kill; so the value is computed
here from the same value the limit is. Empty without a memory limit.
*/}}
{{- define "scan-bridge.gomemlimit" -}}
{{- $limit := toString (((.Values.resources | default dict).limits | default dict).memory | default "") }}
{{- if $limit }}
{{- $num := regexFind "^[0-9]+" $limit }}
{{- $suffix := trimPrefix $num $limit }}
{{- $units := dict "" 1 "k" 1000 "K" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 }}
{{- if or (not $num) (not (hasKey $units $suffix)) }}
{{- fail (printf "resources.limits.memory %q: write it as a whole number with one of the suffixes Ki, Mi, Gi, Ti, k, M, G, T (or none)" $limit) }}
{{- end }}
{{- div (mul (atoi $num) (get $units $suffix) 9) 10 }}
{{- end }}
{{- end }}
