package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/internal/image"
)

// The runtime's settings the manifests set (trigger.Settings reads them).
const (
	componentsDir = image.ComponentsDir
	// The public surface, for webhook routes: TETHER_HTTP_PORT, else PORT.
	httpPort = 8080
	// The probe listener: /healthz, /readyz and /metrics only, so that the
	// kubelet and Prometheus reach them while the control API stays on
	// loopback.
	probePort = 9090
	// runAs is the non-root user of images built by tether build.
	runAs = 65532
)

// probePort is where /healthz, /readyz and /metrics are served.
func (r *renderer) probePort() int {
	if r.opts.Target == Knative {
		return httpPort
	}
	return probePort
}

func isWebhook(c *component.Component) bool { return c.Binding.Name == "bindings.http" }

func (r *renderer) serviceAccount() Object {
	return Object{
		Kind: "ServiceAccount", Name: r.fn.Name,
		Comment: "The function's own identity: bind cloud roles (IRSA, Workload Identity) here.\nIt needs no Kubernetes API access, so no token is mounted.",
		Value:   ServiceAccount{Header: header("v1", "ServiceAccount", r.meta(r.fn.Name)), AutomountServiceAccountToken: ptr(false)},
	}
}

// configFiles are the ConfigMap's files: each component the function uses
// and each secret store they name, as written (secret references stay
// references).
func (r *renderer) configFiles() map[string]string {
	data := map[string]string{}
	for _, c := range r.components {
		data[fileKey(c.Name)] = string(c.Source)
	}
	for name, st := range r.secrets.stores {
		data[fileKey(name)] = string(st.Source)
	}
	return data
}

// fileKey is a ConfigMap key (and file name) for a component name.
func fileKey(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, name) + ".yaml"
}

func (r *renderer) configMap() Object {
	return Object{
		Kind: "ConfigMap", Name: r.fn.Name + "-components",
		Comment: "The component files " + r.fn.Name + " uses, mounted at " + componentsDir + " (TETHER_COMPONENTS).",
		Value:   ConfigMap{Header: header("v1", "ConfigMap", r.meta(r.fn.Name+"-components")), Data: r.configFiles()},
	}
}

// configHash changes when the component files do, so that the pods roll.
func (r *renderer) configHash() string {
	files := r.configFiles()
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(files)) {
		h.Write([]byte(k + "\x00" + files[k] + "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// container is the function's container, for a Deployment or a Knative
// Service.
func (r *renderer) container(trigger *component.Component) Container {
	env := []EnvVar{
		{Name: "TETHER_COMPONENTS", Value: componentsDir},
		{Name: "TETHER_APP_ID", Value: r.fn.Name},
		{Name: "TETHER_LOG_FORMAT", Value: "json"},
		{Name: "TETHER_SHUTDOWN_GRACE", Value: r.opts.ShutdownGrace.String()},
		{Name: "TETHER_PROBE_PORT", Value: strconv.Itoa(r.probePort())},
	}
	if limit := goMemLimit(r.opts.Memory); limit != "" {
		env = append(env, EnvVar{Name: "GOMEMLIMIT", Value: limit})
	}
	ports := []ContainerPort{{Name: "probe", ContainerPort: probePort, Protocol: "TCP"}}
	if isWebhook(trigger) && r.opts.Target != Knative { // Knative sets PORT itself
		env = append(env, EnvVar{Name: "TETHER_HTTP_PORT", Value: strconv.Itoa(httpPort)})
		ports = append([]ContainerPort{{Name: "http", ContainerPort: httpPort, Protocol: "TCP"}}, ports...)
	}
	for _, name := range slices.Sorted(maps.Keys(r.secrets.env)) {
		src := r.secrets.env[name]
		env = append(env, EnvVar{Name: name, ValueFrom: &EnvVarSource{SecretKeyRef: &KeySelector{Name: src.secret, Key: src.key}}})
	}
	mounts := []VolumeMount{{Name: "components", MountPath: componentsDir, ReadOnly: true}}
	if r.opts.Target != Knative { // Knative allows emptyDir only behind a feature flag
		mounts = append(mounts, VolumeMount{Name: "tmp", MountPath: "/tmp"})
	}
	for i, dir := range slices.Sorted(maps.Keys(r.secrets.files)) {
		mounts = append(mounts, VolumeMount{Name: "secrets-" + strconv.Itoa(i), MountPath: dir, ReadOnly: true})
	}
	c := Container{
		Name: r.fn.Name, Image: r.fn.Image, Ports: ports, Env: env,
		Resources: Resources{
			Requests: map[string]string{"cpu": r.opts.CPU, "memory": r.opts.Memory},
			Limits:   map[string]string{"memory": r.opts.Memory},
		},
		VolumeMounts: mounts,
		SecurityContext: &ContainerSecurityContext{
			AllowPrivilegeEscalation: ptr(false),
			ReadOnlyRootFilesystem:   ptr(true),
			RunAsNonRoot:             ptr(true),
			Capabilities:             &Capabilities{Drop: []string{"ALL"}},
		},
	}
	if r.opts.Target != Knative {
		c.LivenessProbe = &Probe{HTTPGet: &HTTPGetAction{Path: "/healthz", Port: "probe"}, PeriodSeconds: 10, FailureThreshold: 3}
		c.ReadinessProbe = &Probe{HTTPGet: &HTTPGetAction{Path: "/readyz", Port: "probe"}, PeriodSeconds: 5, FailureThreshold: 1}
		c.StartupProbe = &Probe{HTTPGet: &HTTPGetAction{Path: "/healthz", Port: "probe"}, PeriodSeconds: 1, FailureThreshold: 30}
	} else {
		// Knative allows one port and probes only on it: the probe listener
		// shares the serving port (TETHER_PROBE_PORT = the port Knative sets
		// as PORT), which then answers /healthz, /readyz and /metrics besides
		// the webhooks, never the control API (docs/security.md).
		c.Ports = []ContainerPort{{ContainerPort: httpPort, Protocol: "TCP"}}
		c.LivenessProbe = &Probe{HTTPGet: &HTTPGetAction{Path: "/healthz"}, PeriodSeconds: 10, FailureThreshold: 3}
		c.ReadinessProbe = &Probe{HTTPGet: &HTTPGetAction{Path: "/readyz"}, PeriodSeconds: 5, FailureThreshold: 1}
		// The pod-level settings Knative refuses by default, on the container.
		c.SecurityContext.RunAsUser = ptr(int64(runAs))
		c.SecurityContext.RunAsGroup = ptr(int64(runAs))
		c.SecurityContext.SeccompProfile = &SeccompProfile{Type: "RuntimeDefault"}
	}
	return c
}

// goMemLimit leaves a tenth of the container's memory limit to what the Go
// runtime does not count; "" when the limit is not in Mi or Gi.
func goMemLimit(limit string) string {
	for suffix, mib := range map[string]int{"Mi": 1, "Gi": 1024} {
		if n, err := strconv.Atoi(strings.TrimSuffix(limit, suffix)); err == nil && strings.HasSuffix(limit, suffix) {
			return strconv.Itoa(n*mib*9/10) + "MiB"
		}
	}
	return ""
}

func (r *renderer) volumes() []Volume {
	vols := []Volume{{Name: "components", ConfigMap: &ConfigMapVolume{Name: r.fn.Name + "-components"}}}
	if r.opts.Target != Knative {
		vols = append(vols, Volume{Name: "tmp", EmptyDir: &EmptyDir{SizeLimit: "64Mi"}})
	}
	for i, dir := range slices.Sorted(maps.Keys(r.secrets.files)) {
		bySecret := map[string][]KeyToPath{}
		for _, file := range slices.Sorted(maps.Keys(r.secrets.files[dir])) {
			src := r.secrets.files[dir][file]
			bySecret[src.secret] = append(bySecret[src.secret], KeyToPath{Key: src.key, Path: file})
		}
		var sources []ProjectedSource
		for _, name := range slices.Sorted(maps.Keys(bySecret)) {
			sources = append(sources, ProjectedSource{Secret: &SecretProjection{Name: name, Items: bySecret[name]}})
		}
		vols = append(vols, Volume{Name: "secrets-" + strconv.Itoa(i), Projected: &Projected{Sources: sources}})
	}
	return vols
}

func (r *renderer) podSpec(trigger *component.Component) PodSpec {
	return PodSpec{
		ServiceAccountName:            r.fn.Name,
		AutomountServiceAccountToken:  ptr(false),
		TerminationGracePeriodSeconds: ptr(int64((r.opts.ShutdownGrace + GraceMargin).Seconds())),
		SecurityContext: &PodSecurityContext{
			RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(runAs)), RunAsGroup: ptr(int64(runAs)), FSGroup: ptr(int64(runAs)),
			SeccompProfile: &SeccompProfile{Type: "RuntimeDefault"},
		},
		Containers: []Container{r.container(trigger)},
		Volumes:    r.volumes(),
	}
}

func (r *renderer) podAnnotations() map[string]string {
	return map[string]string{
		"prometheus.io/scrape":         "true",
		"prometheus.io/port":           strconv.Itoa(r.probePort()),
		"prometheus.io/path":           "/metrics",
		"tether.dev/components-sha256": r.configHash(),
	}
}

func (r *renderer) deployment(trigger *component.Component, s scaling) Object {
	spec := DeploymentSpec{
		RevisionHistoryLimit: ptr(int32(3)),
		Selector:             LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": r.fn.Name}},
		Template: PodTemplate{
			Metadata: TemplateMeta{Labels: r.labels(), Annotations: r.podAnnotations()},
			Spec:     r.podSpec(trigger),
		},
	}
	comment := r.fn.Name + ", triggered by " + trigger.Name + " (" + trigger.Binding.Name + ")."
	if s.keda == nil {
		spec.Replicas = ptr(s.replicas)
		comment += "\n" + s.why
	} else {
		comment += " Replicas: KEDA (see its ScaledObject)."
	}
	return Object{
		Kind: "Deployment", Name: r.fn.Name, Comment: comment,
		Value: Deployment{Header: header("apps/v1", "Deployment", r.meta(r.fn.Name)), Spec: spec},
	}
}

func (r *renderer) service() Object {
	return Object{
		Kind: "Service", Name: r.fn.Name,
		Comment: "The webhook routes (the public surface); the control API is not behind it.",
		Value: Service{
			Header: header("v1", "Service", r.meta(r.fn.Name)),
			Spec: ServiceSpec{
				Selector: map[string]string{"app.kubernetes.io/name": r.fn.Name},
				Ports:    []ServicePort{{Name: "http", Port: 80, TargetPort: "http"}},
			},
		},
	}
}

func (r *renderer) knativeService(trigger *component.Component) Object {
	if !isWebhook(trigger) {
		r.fail(trigger, "--target knative serves HTTP requests; this function's trigger is %s: deploy it with the kubernetes target (KEDA)", trigger.Binding.Name)
		return Object{}
	}
	annotations := r.podAnnotations()
	annotations["autoscaling.knative.dev/min-scale"] = "0"
	annotations["autoscaling.knative.dev/max-scale"] = strconv.Itoa(r.opts.MaxReplicas)
	full := r.podSpec(trigger)
	// Knative's default pod spec allows these fields only; the pod's
	// security settings are on the container, the ServiceAccount mounts no
	// token, and Knative sets the grace period from timeoutSeconds.
	spec := PodSpec{ServiceAccountName: full.ServiceAccountName, Containers: full.Containers, Volumes: full.Volumes}
	spec.ContainerConcurrency = ptr(int64(trigger.Delivery.MaxConcurrency))
	if t := trigger.Delivery.HandlerTimeout; t > 0 {
		spec.TimeoutSeconds = ptr(int64(t.Seconds()) + 1)
	}
	return Object{
		Kind: "Service", Name: r.fn.Name,
		Comment: "Knative serves the webhook on PORT and scales on requests, to zero when idle; up to\n" +
			strconv.Itoa(trigger.Delivery.MaxConcurrency) + " requests per replica at once (maxConcurrency).",
		Value: KnativeService{
			Header: header("serving.knative.dev/v1", "Service", r.meta(r.fn.Name)),
			Spec: KnativeServiceSpec{Template: PodTemplate{
				Metadata: TemplateMeta{Labels: r.labels(), Annotations: annotations},
				Spec:     spec,
			}},
		},
	}
}
