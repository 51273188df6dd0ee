package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/tetherfn/tether/bindings/component"
)

// validateStream checks every object of a rendered stream as the API
// server would, offline: Kubernetes objects strict-decode into k8s.io/api
// types (an unknown or misplaced field is an error); KEDA's and Knative's
// objects are checked against their schemas (testdata/schemas: KEDA and
// Knative publish Go modules too large to import for a test) and their
// metadata as metav1.ObjectMeta; then the references between objects are
// followed (selectors, named ports, volumes, Secrets and their keys,
// ServiceAccounts, scale targets).
func validateStream(t reporter, stream []byte) {
	t.Helper()
	v := &validator{t: t, secrets: map[string]map[string]bool{}, configMaps: map[string]bool{}, accounts: map[string]bool{}, deployments: map[string]map[string]string{}, auths: map[string][]string{}}
	docs := bytes.Split(stream, []byte("\n---\n"))
	for i, doc := range docs {
		v.doc = i + 1
		v.object(doc)
	}
	v.crossCheck()
}

// reporter is what validateStream reports to: a *testing.T, or a recorder
// in the validator's own test.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

var _ reporter = (*testing.T)(nil)

type validator struct {
	t   reporter
	doc int

	secrets     map[string]map[string]bool   // Secret → keys
	configMaps  map[string]bool              //
	accounts    map[string]bool              // ServiceAccounts
	deployments map[string]map[string]string // Deployment → pod labels
	auths       map[string][]string          // TriggerAuthentication → parameters
	pods        []podRef                     // pod specs to check once every object is known
	services    []corev1.Service
	scaled      []scaledObject
}

type podRef struct {
	owner   string
	spec    corev1.PodSpec
	knative bool // probes without a port are on Knative's serving port
}

func (v *validator) errorf(format string, args ...any) {
	v.t.Helper()
	v.t.Errorf("document %d: "+format, append([]any{v.doc}, args...)...)
}

// strict decodes YAML into out, refusing unknown fields.
func (v *validator) strict(doc []byte, out any) bool {
	v.t.Helper()
	if err := yaml.UnmarshalStrict(doc, out); err != nil {
		v.errorf("%T: %v\n%s", out, err, doc)
		return false
	}
	return true
}

func (v *validator) object(doc []byte) {
	v.t.Helper()
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		v.errorf("not YAML: %v", err)
		return
	}
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 ServiceAccount":
		var o corev1.ServiceAccount
		if v.strict(doc, &o) {
			v.accounts[o.Name] = true
		}
	case "v1 ConfigMap":
		var o corev1.ConfigMap
		if v.strict(doc, &o) {
			v.configMaps[o.Name] = true
			for name, data := range o.Data {
				if _, err := component.Parse(name, []byte(data)); err != nil {
					v.errorf("ConfigMap %s: %s does not load: %v", o.Name, name, err)
				}
			}
		}
	case "v1 Secret":
		var o corev1.Secret
		if v.strict(doc, &o) {
			keys := map[string]bool{}
			for k, val := range o.StringData {
				keys[k] = true
				if val != "" {
					v.errorf("Secret %s: key %s has a value; skeletons hold names only", o.Name, k)
				}
			}
			if len(o.Data) > 0 {
				v.errorf("Secret %s: data set; skeletons hold names only", o.Name)
			}
			v.secrets[o.Name] = keys
		}
	case "v1 Service":
		var o corev1.Service
		if v.strict(doc, &o) {
			v.services = append(v.services, o)
		}
	case "apps/v1 Deployment":
		var o appsv1.Deployment
		if !v.strict(doc, &o) {
			return
		}
		sel := o.Spec.Selector.MatchLabels
		for k, val := range sel {
			if o.Spec.Template.Labels[k] != val {
				v.errorf("Deployment %s: selector %s=%s does not match the pod's labels", o.Name, k, val)
			}
		}
		v.deployments[o.Name] = o.Spec.Template.Labels
		v.pods = append(v.pods, podRef{"Deployment " + o.Name, o.Spec.Template.Spec, false})
		v.hardened("Deployment "+o.Name, o.Spec.Template.Spec, false)
	case "keda.sh/v1alpha1 ScaledObject":
		if v.schema("scaledobject.yaml", doc) {
			var o scaledObject
			if err := yaml.Unmarshal(doc, &o); err != nil {
				v.errorf("%v", err)
			}
			v.scaled = append(v.scaled, o)
		}
	case "keda.sh/v1alpha1 TriggerAuthentication":
		if v.schema("triggerauthentication.yaml", doc) {
			var o struct {
				Metadata metav1.ObjectMeta
				Spec     struct {
					SecretTargetRef []struct{ Parameter, Name, Key string }
				}
			}
			if err := yaml.Unmarshal(doc, &o); err != nil {
				v.errorf("%v", err)
			}
			var params []string
			for _, ref := range o.Spec.SecretTargetRef {
				params = append(params, ref.Parameter)
				if !v.secrets[ref.Name][ref.Key] {
					v.errorf("TriggerAuthentication %s: parameter %s reads Secret %s key %s, which the stream does not name", o.Metadata.Name, ref.Parameter, ref.Name, ref.Key)
				}
			}
			v.auths[o.Metadata.Name] = params
		}
	case "serving.knative.dev/v1 Service":
		if !v.schema("knative-service.yaml", doc) {
			return
		}
		var o struct {
			Metadata metav1.ObjectMeta
			Spec     struct {
				Template struct {
					Spec map[string]any
				}
			}
		}
		if err := yaml.Unmarshal(doc, &o); err != nil {
			v.errorf("%v", err)
			return
		}
		rev := o.Spec.Template.Spec
		for _, k := range []string{"containerConcurrency", "timeoutSeconds", "responseStartTimeoutSeconds", "idleTimeoutSeconds"} {
			delete(rev, k)
		}
		for k := range rev {
			if !slices.Contains(knativePodFields, k) {
				v.errorf("Knative Service %s: pod spec field %s needs a Knative feature flag", o.Metadata.Name, k)
			}
		}
		b, _ := json.Marshal(rev)
		var spec corev1.PodSpec
		if v.strict(b, &spec) {
			if len(spec.Containers) != 1 || len(spec.Containers[0].Ports) > 1 {
				v.errorf("Knative Service %s: Knative takes one container with at most one port", o.Metadata.Name)
			}
			v.pods = append(v.pods, podRef{"Knative Service " + o.Metadata.Name, spec, true})
			v.hardened("Knative Service "+o.Metadata.Name, spec, true)
		}
	default:
		v.errorf("unexpected object %s %s", tm.APIVersion, tm.Kind)
	}
}

// knativePodFields are the pod spec fields Knative Serving accepts with its
// default feature flags.
var knativePodFields = []string{"serviceAccountName", "containers", "volumes", "imagePullSecrets", "enableServiceLinks", "automountServiceAccountToken"}

// hardened checks what issue #14 asks of every pod: a pinned image,
// non-root, read-only root filesystem, no capabilities, no privilege
// escalation, JSON logs, a bounded memory, probes on /healthz and /readyz
// (Knative probes its serving port itself), and a grace period longer than
// the runtime's drain.
func (v *validator) hardened(owner string, spec corev1.PodSpec, knative bool) {
	v.t.Helper()
	for _, c := range spec.Containers {
		if !strings.Contains(c.Image, "@sha256:") {
			v.errorf("%s: image %s is not pinned by digest", owner, c.Image)
		}
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			v.errorf("%s: container %s is not hardened: %+v", owner, c.Name, sc)
		}
		if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
			v.errorf("%s: container %s has no memory limit or CPU request", owner, c.Name)
		}
		env := map[string]string{}
		for _, e := range c.Env {
			if _, dup := env[e.Name]; dup {
				v.errorf("%s: env %s set twice", owner, e.Name)
			}
			env[e.Name] = e.Value
		}
		if env["TETHER_LOG_FORMAT"] != "json" {
			v.errorf("%s: logs are not JSON", owner)
		}
		if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
			v.errorf("%s: probes are not on /readyz and /healthz", owner)
		}
	}
	if !knative && (spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds <= 25) {
		v.errorf("%s: terminationGracePeriodSeconds does not exceed the runtime's drain", owner)
	}
}

type scaledObject struct {
	Metadata metav1.ObjectMeta
	Spec     struct {
		ScaleTargetRef struct{ Name string }
		Triggers       []struct {
			Type              string
			Metadata          map[string]string
			AuthenticationRef *struct{ Name string }
		}
	}
}

// crossCheck follows the references between objects.
func (v *validator) crossCheck() {
	v.t.Helper()
	v.doc = 0
	for _, p := range v.pods {
		if !v.accounts[p.spec.ServiceAccountName] {
			v.errorf("%s: ServiceAccount %q is not in the stream", p.owner, p.spec.ServiceAccountName)
		}
		vols := map[string]bool{}
		for _, vol := range p.spec.Volumes {
			vols[vol.Name] = true
			if vol.ConfigMap != nil && !v.configMaps[vol.ConfigMap.Name] {
				v.errorf("%s: volume %s: ConfigMap %s is not in the stream", p.owner, vol.Name, vol.ConfigMap.Name)
			}
			if vol.Projected != nil {
				for _, src := range vol.Projected.Sources {
					for _, item := range src.Secret.Items {
						if !v.secrets[src.Secret.Name][item.Key] {
							v.errorf("%s: volume %s: Secret %s key %s is not in the stream", p.owner, vol.Name, src.Secret.Name, item.Key)
						}
					}
				}
			}
		}
		for _, c := range p.spec.Containers {
			ports := map[string]bool{}
			for _, port := range c.Ports {
				ports[port.Name] = true
			}
			for _, probe := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
				if probe != nil && !(p.knative && probe.HTTPGet.Port.StrVal == "") && !ports[probe.HTTPGet.Port.StrVal] {
					v.errorf("%s: a probe uses port %q, which the container does not name", p.owner, probe.HTTPGet.Port.StrVal)
				}
			}
			for _, m := range c.VolumeMounts {
				if !vols[m.Name] {
					v.errorf("%s: mount of unknown volume %s", p.owner, m.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && !v.secrets[e.ValueFrom.SecretKeyRef.Name][e.ValueFrom.SecretKeyRef.Key] {
					v.errorf("%s: env %s reads Secret %s key %s, which the stream does not name", p.owner, e.Name, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
				}
			}
		}
	}
	for _, s := range v.services {
		labels, ok := v.deployments[s.Name]
		for k, val := range s.Spec.Selector {
			if !ok || labels[k] != val {
				v.errorf("Service %s selects %s=%s, which no Deployment's pods carry", s.Name, k, val)
			}
		}
	}
	scalers := kedaScalers(v.t)
	for _, so := range v.scaled {
		if _, ok := v.deployments[so.Spec.ScaleTargetRef.Name]; !ok {
			v.errorf("ScaledObject %s scales Deployment %s, which is not in the stream", so.Metadata.Name, so.Spec.ScaleTargetRef.Name)
		}
		for _, tr := range so.Spec.Triggers {
			var params []string
			if tr.AuthenticationRef != nil {
				var ok bool
				if params, ok = v.auths[tr.AuthenticationRef.Name]; !ok {
					v.errorf("ScaledObject %s: TriggerAuthentication %s is not in the stream", so.Metadata.Name, tr.AuthenticationRef.Name)
				}
			}
			sc, ok := scalers[tr.Type]
			if !ok {
				v.errorf("ScaledObject %s: no scaler %q in testdata/schemas/keda-scalers.yaml", so.Metadata.Name, tr.Type)
				continue
			}
			for k := range tr.Metadata {
				if !slices.Contains(sc.Metadata, k) {
					v.errorf("ScaledObject %s: %s has no metadata %q", so.Metadata.Name, tr.Type, k)
				}
			}
			for _, p := range params {
				if !slices.Contains(sc.Auth, p) {
					v.errorf("ScaledObject %s: %s takes no authentication parameter %q", so.Metadata.Name, tr.Type, p)
				}
			}
			for _, oneOf := range sc.Required {
				if !slices.ContainsFunc(oneOf, func(k string) bool {
					if p, ok := strings.CutPrefix(k, "auth:"); ok {
						return slices.Contains(params, p)
					}
					return tr.Metadata[k] != ""
				}) {
					v.errorf("ScaledObject %s: %s needs one of %v", so.Metadata.Name, tr.Type, oneOf)
				}
			}
		}
	}
}

type scalerSpec struct {
	Required [][]string
	Metadata []string
	Auth     []string
}

var loadScalers = sync.OnceValues(func() (map[string]scalerSpec, error) {
	b, err := os.ReadFile(filepath.Join("testdata", "schemas", "keda-scalers.yaml"))
	if err != nil {
		return nil, err
	}
	var out map[string]scalerSpec
	return out, yaml.UnmarshalStrict(b, &out)
})

func kedaScalers(t reporter) map[string]scalerSpec {
	s, err := loadScalers()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// schema validates doc against testdata/schemas/<file>, and its metadata
// as metav1.ObjectMeta.
func (v *validator) schema(file string, doc []byte) bool {
	v.t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "schemas", file))
	if err != nil {
		v.t.Fatal(err)
	}
	var s schema
	if err := yaml.UnmarshalStrict(b, &s); err != nil {
		v.t.Fatalf("%s: %v", file, err)
	}
	var obj any
	if err := yaml.Unmarshal(doc, &obj); err != nil {
		v.errorf("%v", err)
		return false
	}
	problems := s.check("", obj)
	var meta struct {
		Metadata json.RawMessage `json:"metadata"`
	}
	_ = yaml.Unmarshal(doc, &meta)
	var om metav1.ObjectMeta
	dec := json.NewDecoder(bytes.NewReader(meta.Metadata))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&om); err != nil {
		problems = append(problems, "metadata: "+err.Error())
	}
	for _, p := range problems {
		v.errorf("%s: %s", file, p)
	}
	return len(problems) == 0
}

// schema is the part of OpenAPI v3 that Kubernetes structural schemas use
// and these tests need; unknown fields are errors, as the API server's
// pruning makes them (a field it would drop is a field deploy got wrong).
type schema struct {
	Type                 string             `json:"type"`
	Properties           map[string]*schema `json:"properties"`
	Required             []string           `json:"required"`
	Items                *schema            `json:"items"`
	AdditionalProperties *schema            `json:"additionalProperties"`
	Enum                 []any              `json:"enum"`
	Minimum              *float64           `json:"minimum"`
	Maximum              *float64           `json:"maximum"`
	PreserveUnknown      bool               `json:"x-kubernetes-preserve-unknown-fields"`
}

func (s *schema) check(path string, v any) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, path+": "+fmt.Sprintf(format, args...)) }
	switch s.Type {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			bad("want an object, got %T", v)
			return problems
		}
		for _, r := range s.Required {
			if _, ok := m[r]; !ok {
				bad("missing required field %q", r)
			}
		}
		for k, val := range m {
			switch {
			case s.Properties[k] != nil:
				problems = append(problems, s.Properties[k].check(path+"."+k, val)...)
			case s.AdditionalProperties != nil:
				problems = append(problems, s.AdditionalProperties.check(path+"."+k, val)...)
			case !s.PreserveUnknown:
				bad("unknown field %q", k)
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			bad("want an array, got %T", v)
			return problems
		}
		for i, item := range a {
			problems = append(problems, s.Items.check(fmt.Sprintf("%s[%d]", path, i), item)...)
		}
	case "string":
		if _, ok := v.(string); !ok {
			bad("want a string, got %T (%v)", v, v)
		}
	case "integer":
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			bad("want an integer, got %T (%v)", v, v)
		} else if s.Minimum != nil && f < *s.Minimum || s.Maximum != nil && f > *s.Maximum {
			bad("%v is out of range", f)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			bad("want a boolean, got %T", v)
		}
	}
	if len(s.Enum) > 0 && !slices.Contains(s.Enum, v) {
		bad("%v is not one of %v", v, s.Enum)
	}
	return problems
}
