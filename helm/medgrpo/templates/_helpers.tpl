{{/*
Small named helpers. Each does one thing; templates compose them.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "medgrpo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The object-name prefix: fullnameOverride, else the release name (which already says "medgrpo"), else "<release>-medgrpo". */}}
{{- define "medgrpo.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "medgrpo.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "name-version" for the helm.sh/chart label. */}}
{{- define "medgrpo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "medgrpo.labels" -}}
helm.sh/chart: {{ include "medgrpo.chart" . }}
app.kubernetes.io/name: {{ include "medgrpo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: medgrpo
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels that select one component's pods; call with (dict "root" $ "component" "mlflow"). */}}
{{- define "medgrpo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "medgrpo.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* An image reference from {repository, tag, digest}: by digest when one is given. */}}
{{- define "medgrpo.image" -}}
{{- if .digest -}}
{{- printf "%s@%s" .repository .digest -}}
{{- else -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}
{{- end -}}

{{/* Pull policy from {pullPolicy, digest}: an explicit value wins; a digest is immutable (IfNotPresent), a tag is not (Always). */}}
{{- define "medgrpo.imagePullPolicy" -}}
{{- if .pullPolicy -}}
{{- .pullPolicy -}}
{{- else if .digest -}}
IfNotPresent
{{- else -}}
Always
{{- end -}}
{{- end -}}

{{/* checkov skip annotation for an image given by tag only; absent once a digest is set. Call with the image values. */}}
{{- define "medgrpo.checkovDigestSkip" -}}
{{- if not .digest -}}
checkov.io/skip1: "CKV_K8S_43=No image digest configured: the chart references the image by digest whenever image.digest is set, which production values must do (docs/deploy.md)"
{{- end -}}
{{- end -}}

{{/* MLflow object names. */}}
{{- define "medgrpo.mlflow.fullname" -}}
{{- printf "%s-mlflow" (include "medgrpo.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "medgrpo.mlflow.serviceAccountName" -}}
{{- if .Values.mlflow.serviceAccount.create -}}
{{- default (include "medgrpo.mlflow.fullname" .) .Values.mlflow.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.mlflow.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret with the backend store URLs: the operator's existingSecret, else the name the chart expects. */}}
{{- define "medgrpo.mlflow.backendSecretName" -}}
{{- default (printf "%s-db" (include "medgrpo.mlflow.fullname" .)) .Values.mlflow.backendStore.existingSecret -}}
{{- end -}}

{{/* The Secret with the basic-auth admin credentials: the operator's existingSecret, else the one the chart generates. */}}
{{- define "medgrpo.mlflow.authSecretName" -}}
{{- default (printf "%s-auth" (include "medgrpo.mlflow.fullname" .)) .Values.mlflow.auth.existingSecret -}}
{{- end -}}

{{/* The Secret with the webhook-secret encryption key: the operator's existingSecret, else the one the chart generates. */}}
{{- define "medgrpo.mlflow.webhooksSecretName" -}}
{{- default (printf "%s-webhooks" (include "medgrpo.mlflow.fullname" .)) .Values.mlflow.webhooks.existingSecret -}}
{{- end -}}

{{/* In-cluster URL of the MLflow Service, or settings.mlflowTrackingUri when set. */}}
{{- define "medgrpo.mlflow.trackingUri" -}}
{{- if .Values.settings.mlflowTrackingUri -}}
{{- .Values.settings.mlflowTrackingUri -}}
{{- else -}}
{{- printf "http://%s.%s.svc.cluster.local:%d" (include "medgrpo.mlflow.fullname" .) .Release.Namespace (int .Values.mlflow.service.port) -}}
{{- end -}}
{{- end -}}

{{/* Name of the training PriorityClass. */}}
{{- define "medgrpo.training.priorityClassName" -}}
{{- default (printf "%s-training" (include "medgrpo.fullname" .)) .Values.training.priorityClass.name -}}
{{- end -}}

{{/* Annotations that bind the training ServiceAccount to a cloud identity. */}}
{{- define "medgrpo.training.workloadIdentityAnnotations" -}}
{{- $wi := .Values.training.serviceAccount.workloadIdentity -}}
{{- if $wi.provider -}}
{{- if not $wi.identity -}}
{{- fail (printf "training.serviceAccount.workloadIdentity.identity must name the identity to assume when provider is %q, found an empty value" $wi.provider) -}}
{{- end -}}
{{- if eq $wi.provider "aws" -}}
eks.amazonaws.com/role-arn: {{ $wi.identity | quote }}
{{- else if eq $wi.provider "gcp" -}}
iam.gke.io/gcp-service-account: {{ $wi.identity | quote }}
{{- else if eq $wi.provider "azure" -}}
azure.workload.identity/client-id: {{ $wi.identity | quote }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Pod label key that marks the pods of one multi-node job, for the configured operator. */}}
{{- define "medgrpo.kubeflow.jobLabelKey" -}}
{{- if eq .Values.kubeflow.operator "pytorchjob" -}}
{{- .Values.kubeflow.pytorchJobLabelKey -}}
{{- else -}}
{{- .Values.kubeflow.trainerJobLabelKey -}}
{{- end -}}
{{- end -}}

{{/* Pod-level securityContext meeting Pod Security "restricted". */}}
{{- define "medgrpo.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level securityContext meeting Pod Security "restricted", with a read-only root filesystem. */}}
{{- define "medgrpo.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* NetworkPolicy peer for this chart's MLflow pods (from another namespace). */}}
{{- define "medgrpo.mlflow.peer" -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ .Release.Namespace }}
  podSelector:
    matchLabels:
      {{- include "medgrpo.selectorLabels" (dict "root" . "component" "mlflow") | nindent 6 }}
{{- end -}}

{{/* NetworkPolicy egress rule to cluster DNS. */}}
{{- define "medgrpo.networkPolicy.dnsEgress" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .Values.networkPolicy.dns.namespace }}
      podSelector:
        matchLabels:
          {{- toYaml .Values.networkPolicy.dns.podLabels | nindent 10 }}
  ports:
    - protocol: UDP
      port: {{ .Values.networkPolicy.dns.port }}
    - protocol: TCP
      port: {{ .Values.networkPolicy.dns.port }}
{{- end -}}

{{/* NetworkPolicy egress rule to object storage (HTTPS to the configured CIDRs; the exclusions apply to 0.0.0.0/0). */}}
{{- define "medgrpo.networkPolicy.objectStorageEgress" -}}
{{- $os := .Values.networkPolicy.objectStorage -}}
- to:
    {{- range $os.cidrs }}
    - ipBlock:
        cidr: {{ . }}
        {{- if and (eq . "0.0.0.0/0") $os.except }}
        except:
          {{- toYaml $os.except | nindent 10 }}
        {{- end }}
    {{- end }}
  ports:
    {{- range $os.ports }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
{{- end -}}
