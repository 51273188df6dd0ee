package deploy

// The Kubernetes, KEDA and Knative objects deploy emits, reduced to the
// fields it sets. Field names and nesting are the API's own (the tests
// strict-decode every emitted object into k8s.io/api types and check KEDA's
// and Knative's against their schemas); yaml tags keep the API's order of
// apiVersion, kind, metadata, spec in the output.

// Meta is metav1.ObjectMeta.
type Meta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// Header is the apiVersion and kind every object starts with.
type Header struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   Meta   `yaml:"metadata"`
}

type ServiceAccount struct {
	Header                       `yaml:",inline"`
	AutomountServiceAccountToken *bool `yaml:"automountServiceAccountToken,omitempty"`
}

type ConfigMap struct {
	Header `yaml:",inline"`
	Data   map[string]string `yaml:"data"`
}

type Secret struct {
	Header     `yaml:",inline"`
	Type       string            `yaml:"type"`
	StringData map[string]string `yaml:"stringData"`
}

type Deployment struct {
	Header `yaml:",inline"`
	Spec   DeploymentSpec `yaml:"spec"`
}

type DeploymentSpec struct {
	Replicas             *int32          `yaml:"replicas,omitempty"`
	RevisionHistoryLimit *int32          `yaml:"revisionHistoryLimit,omitempty"`
	Selector             LabelSelector   `yaml:"selector"`
	Template             PodTemplate     `yaml:"template"`
	Strategy             *DeployStrategy `yaml:"strategy,omitempty"`
}

type DeployStrategy struct {
	Type string `yaml:"type"`
}

type LabelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type PodTemplate struct {
	Metadata TemplateMeta `yaml:"metadata"`
	Spec     PodSpec      `yaml:"spec"`
}

type TemplateMeta struct {
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

type PodSpec struct {
	ServiceAccountName            string              `yaml:"serviceAccountName,omitempty"`
	AutomountServiceAccountToken  *bool               `yaml:"automountServiceAccountToken,omitempty"`
	TerminationGracePeriodSeconds *int64              `yaml:"terminationGracePeriodSeconds,omitempty"`
	SecurityContext               *PodSecurityContext `yaml:"securityContext,omitempty"`
	Containers                    []Container         `yaml:"containers"`
	Volumes                       []Volume            `yaml:"volumes,omitempty"`
	// Knative's RevisionSpec adds these to the pod spec.
	ContainerConcurrency *int64 `yaml:"containerConcurrency,omitempty"`
	TimeoutSeconds       *int64 `yaml:"timeoutSeconds,omitempty"`
}

type PodSecurityContext struct {
	RunAsNonRoot   *bool           `yaml:"runAsNonRoot,omitempty"`
	RunAsUser      *int64          `yaml:"runAsUser,omitempty"`
	RunAsGroup     *int64          `yaml:"runAsGroup,omitempty"`
	FSGroup        *int64          `yaml:"fsGroup,omitempty"`
	SeccompProfile *SeccompProfile `yaml:"seccompProfile,omitempty"`
}

type SeccompProfile struct {
	Type string `yaml:"type"`
}

type Container struct {
	Name            string                    `yaml:"name"`
	Image           string                    `yaml:"image"`
	Ports           []ContainerPort           `yaml:"ports,omitempty"`
	Env             []EnvVar                  `yaml:"env,omitempty"`
	Resources       Resources                 `yaml:"resources"`
	VolumeMounts    []VolumeMount             `yaml:"volumeMounts,omitempty"`
	LivenessProbe   *Probe                    `yaml:"livenessProbe,omitempty"`
	ReadinessProbe  *Probe                    `yaml:"readinessProbe,omitempty"`
	StartupProbe    *Probe                    `yaml:"startupProbe,omitempty"`
	SecurityContext *ContainerSecurityContext `yaml:"securityContext,omitempty"`
}

type ContainerPort struct {
	Name          string `yaml:"name,omitempty"`
	ContainerPort int32  `yaml:"containerPort"`
	Protocol      string `yaml:"protocol,omitempty"`
}

type EnvVar struct {
	Name      string        `yaml:"name"`
	Value     string        `yaml:"value,omitempty"`
	ValueFrom *EnvVarSource `yaml:"valueFrom,omitempty"`
}

type EnvVarSource struct {
	SecretKeyRef *KeySelector `yaml:"secretKeyRef,omitempty"`
}

type KeySelector struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

type Resources struct {
	Requests map[string]string `yaml:"requests,omitempty"`
	Limits   map[string]string `yaml:"limits,omitempty"`
}

type VolumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	ReadOnly  bool   `yaml:"readOnly,omitempty"`
}

type Probe struct {
	HTTPGet          *HTTPGetAction `yaml:"httpGet,omitempty"`
	PeriodSeconds    int32          `yaml:"periodSeconds,omitempty"`
	FailureThreshold int32          `yaml:"failureThreshold,omitempty"`
}

type HTTPGetAction struct {
	Path string `yaml:"path"`
	Port string `yaml:"port,omitempty"` // a named port; Knative: its serving port
}

type ContainerSecurityContext struct {
	AllowPrivilegeEscalation *bool           `yaml:"allowPrivilegeEscalation,omitempty"`
	ReadOnlyRootFilesystem   *bool           `yaml:"readOnlyRootFilesystem,omitempty"`
	RunAsNonRoot             *bool           `yaml:"runAsNonRoot,omitempty"`
	RunAsUser                *int64          `yaml:"runAsUser,omitempty"`
	RunAsGroup               *int64          `yaml:"runAsGroup,omitempty"`
	SeccompProfile           *SeccompProfile `yaml:"seccompProfile,omitempty"`
	Capabilities             *Capabilities   `yaml:"capabilities,omitempty"`
}

type Capabilities struct {
	Drop []string `yaml:"drop"`
}

type Volume struct {
	Name      string           `yaml:"name"`
	ConfigMap *ConfigMapVolume `yaml:"configMap,omitempty"`
	EmptyDir  *EmptyDir        `yaml:"emptyDir,omitempty"`
	Projected *Projected       `yaml:"projected,omitempty"`
}

type ConfigMapVolume struct {
	Name string `yaml:"name"`
}

type EmptyDir struct {
	SizeLimit string `yaml:"sizeLimit,omitempty"`
}

type Projected struct {
	Sources []ProjectedSource `yaml:"sources"`
}

type ProjectedSource struct {
	Secret *SecretProjection `yaml:"secret"`
}

type SecretProjection struct {
	Name  string      `yaml:"name"`
	Items []KeyToPath `yaml:"items"`
}

type KeyToPath struct {
	Key  string `yaml:"key"`
	Path string `yaml:"path"`
}

type Service struct {
	Header `yaml:",inline"`
	Spec   ServiceSpec `yaml:"spec"`
}

type ServiceSpec struct {
	Selector map[string]string `yaml:"selector"`
	Ports    []ServicePort     `yaml:"ports"`
}

type ServicePort struct {
	Name       string `yaml:"name"`
	Port       int32  `yaml:"port"`
	TargetPort string `yaml:"targetPort"` // a named port
}

// ScaledObject is KEDA's keda.sh/v1alpha1 ScaledObject.
type ScaledObject struct {
	Header `yaml:",inline"`
	Spec   ScaledObjectSpec `yaml:"spec"`
}

type ScaledObjectSpec struct {
	ScaleTargetRef  ScaleTarget `yaml:"scaleTargetRef"`
	PollingInterval *int32      `yaml:"pollingInterval,omitempty"`
	CooldownPeriod  *int32      `yaml:"cooldownPeriod,omitempty"`
	MinReplicaCount *int32      `yaml:"minReplicaCount,omitempty"`
	MaxReplicaCount *int32      `yaml:"maxReplicaCount,omitempty"`
	Triggers        []Trigger   `yaml:"triggers"`
}

type ScaleTarget struct {
	APIVersion string `yaml:"apiVersion,omitempty"`
	Kind       string `yaml:"kind,omitempty"`
	Name       string `yaml:"name"`
}

type Trigger struct {
	Type              string            `yaml:"type"`
	Name              string            `yaml:"name,omitempty"`
	Metadata          map[string]string `yaml:"metadata"`
	AuthenticationRef *AuthRef          `yaml:"authenticationRef,omitempty"`
}

type AuthRef struct {
	Name string `yaml:"name"`
}

// TriggerAuthentication is KEDA's keda.sh/v1alpha1 TriggerAuthentication.
type TriggerAuthentication struct {
	Header `yaml:",inline"`
	Spec   TriggerAuthSpec `yaml:"spec"`
}

type TriggerAuthSpec struct {
	PodIdentity     *PodIdentity   `yaml:"podIdentity,omitempty"`
	SecretTargetRef []SecretTarget `yaml:"secretTargetRef,omitempty"`
}

type PodIdentity struct {
	Provider      string `yaml:"provider"`
	IdentityOwner string `yaml:"identityOwner,omitempty"`
}

type SecretTarget struct {
	Parameter string `yaml:"parameter"`
	Name      string `yaml:"name"`
	Key       string `yaml:"key"`
}

// KnativeService is Knative's serving.knative.dev/v1 Service.
type KnativeService struct {
	Header `yaml:",inline"`
	Spec   KnativeServiceSpec `yaml:"spec"`
}

type KnativeServiceSpec struct {
	Template PodTemplate `yaml:"template"`
}

// Kustomization is kustomize's kustomize.config.k8s.io/v1beta1 file.
type Kustomization struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Namespace  string   `yaml:"namespace,omitempty"`
	Resources  []string `yaml:"resources"`
}
