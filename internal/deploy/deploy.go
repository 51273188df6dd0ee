// Package deploy renders the Kubernetes manifests of Tether functions from
// what Tether already knows about them: each function's trigger and output
// components (from the generator) and the component files of one
// environment. It is a pure function from those inputs to objects; writing
// them out (one stream, or a kustomize folder) is separate, and the CLI
// (`tether deploy`) is a thin layer over both.
//
//	set, err := component.Load([]string{"components/prod"}, &component.Options{Unresolved: true})
//	objs, err := deploy.Render([]deploy.Function{{Name: "orders", Trigger: "orders-queue",
//		Components: []string{"orders-queue", "shipments"}, Image: "ghcr.io/acme/orders@sha256:..."}}, set, nil)
//	err = deploy.WriteStream(os.Stdout, objs)
//
// Per function: a ServiceAccount, a ConfigMap holding the component files it
// uses (mounted where TETHER_COMPONENTS points), a Secret skeleton naming
// every secretKeyRef and envRef (names only, never a value), a hardened
// Deployment, and the autoscaling its trigger allows: a KEDA ScaledObject and
// TriggerAuthentication for brokers KEDA can measure, fixed replicas (with the
// reason written above the Deployment) for the others, a Service for
// webhooks, or a Knative Service instead of all of it.
package deploy

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/tetherfn/tether/bindings/component"
)

// Function is one function to deploy.
type Function struct {
	Name    string // a DNS-1123 label
	Trigger string // its input component
	// Components are every component it uses (trigger, return, outputs);
	// dead-letter targets and secret stores are added by Render.
	Components []string
	// Image is the image reference; it is pinned when it holds a digest.
	Image string
}

// Target selects what runs a function.
type Target string

const (
	// Kubernetes is a Deployment, scaled by KEDA where the trigger allows.
	Kubernetes Target = "kubernetes"
	// Knative is a Knative Service, for functions triggered by webhooks.
	Knative Target = "knative"
)

// Options tune Render. A nil *Options is valid.
type Options struct {
	// Namespace of every object; "" leaves it to kubectl or kustomize.
	Namespace string
	// Target is Kubernetes (the default) or Knative.
	Target Target
	// ShutdownGrace is the runtime's drain after SIGTERM
	// (TETHER_SHUTDOWN_GRACE); the pod's terminationGracePeriodSeconds adds
	// GraceMargin to it. Default 25s.
	ShutdownGrace time.Duration
	// MaxReplicas bounds autoscaling. Default 10.
	MaxReplicas int
	// CPU and Memory are the container's requests; Memory is also its
	// limit (and sets GOMEMLIMIT). Defaults 50m and 128Mi.
	CPU, Memory string
	// PrometheusURL, when set, lets an MQTT trigger on a shared
	// subscription ($share/...) scale with KEDA's prometheus scaler on the
	// in-flight gauge; otherwise MQTT runs at fixed replicas.
	PrometheusURL string
}

// GraceMargin is added to the shutdown grace for the pod's
// terminationGracePeriodSeconds: the time to nack what the drain left and
// exit before the kubelet's SIGKILL.
const GraceMargin = 5 * time.Second

func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.Target == "" {
		out.Target = Kubernetes
	}
	if out.ShutdownGrace == 0 {
		out.ShutdownGrace = 25 * time.Second
	}
	if out.MaxReplicas == 0 {
		out.MaxReplicas = 10
	}
	if out.CPU == "" {
		out.CPU = "50m"
	}
	if out.Memory == "" {
		out.Memory = "128Mi"
	}
	return out
}

// Object is one manifest.
type Object struct {
	Kind string
	Name string
	// Comment is written above the object: why it is what it is.
	Comment string
	// Skeleton marks a Secret that holds key names and empty values: the
	// user fills it; it is never applied.
	Skeleton bool
	Value    any
}

// Render returns the manifests of fns in the environment set, which must
// be loaded with component.Options.Unresolved so that secret references
// stay references. Every problem of every function is reported, each with
// the component file and line it comes from.
func Render(fns []Function, set *component.Set, opts *Options) ([]Object, error) {
	o := opts.withDefaults()
	if o.Target != Kubernetes && o.Target != Knative {
		return nil, fmt.Errorf("target %q: want %s or %s", o.Target, Kubernetes, Knative)
	}
	if o.ShutdownGrace < 0 || o.MaxReplicas < 1 {
		return nil, fmt.Errorf("shutdown grace %s and max replicas %d: want a grace ≥ 0 and at least 1 replica", o.ShutdownGrace, o.MaxReplicas)
	}
	var objs []Object
	var errs []error
	for _, c := range set.Components() {
		if c.Binding.Name == "bindings.memory" {
			errs = append(errs, fmt.Errorf("%s:%d: component %q: bindings.memory keeps messages in one process's memory and cannot be deployed: give this environment a broker's binding (the memory binding is for tests and tether dev)", c.File, c.Line, c.Name))
		}
	}
	for _, fn := range fns {
		r := &renderer{fn: fn, set: set, opts: o}
		out := r.render()
		if len(r.errs) > 0 {
			errs = append(errs, r.errs...)
			continue
		}
		objs = append(objs, out...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return mergeSkeletons(objs), nil
}

// mergeSkeletons folds Secret skeletons of the same name (a Secret two
// functions read) into the first, with the keys of all.
func mergeSkeletons(objs []Object) []Object {
	first := map[string]int{}
	var out []Object
	for _, o := range objs {
		if !o.Skeleton {
			out = append(out, o)
			continue
		}
		i, seen := first[o.Name]
		if !seen {
			first[o.Name] = len(out)
			out = append(out, o)
			continue
		}
		merged := out[i].Value.(Secret)
		keys := maps.Clone(merged.StringData)
		maps.Copy(keys, o.Value.(Secret).StringData)
		out[i] = skeleton(merged.Metadata, keys)
	}
	return out
}

// renderer is the work on one function.
type renderer struct {
	fn   Function
	set  *component.Set
	opts Options
	errs []error

	components []*component.Component // used, in order: trigger first
	secrets    secretPlan
}

func (r *renderer) fail(c *component.Component, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if c != nil {
		msg = fmt.Sprintf("%s:%d: component %q: %s", c.File, c.Line, c.Name, msg)
	}
	r.errs = append(r.errs, fmt.Errorf("function %s: %s", r.fn.Name, msg))
}

func (r *renderer) render() []Object {
	if r.fn.Image == "" {
		r.fail(nil, "no image")
	}
	r.collect()
	if len(r.errs) > 0 {
		return nil
	}
	trigger := r.components[0]
	r.secrets = r.planSecrets()
	scale := r.scaling(trigger)
	if len(r.errs) > 0 {
		return nil
	}
	objs := []Object{r.serviceAccount(), r.configMap()}
	objs = append(objs, r.secretSkeletons()...)
	if r.opts.Target == Knative {
		objs = append(objs, r.knativeService(trigger))
		return objs
	}
	objs = append(objs, r.deployment(trigger, scale))
	if isWebhook(trigger) {
		objs = append(objs, r.service())
	}
	if scale.keda != nil {
		if auth := r.triggerAuth(scale); auth != nil {
			objs = append(objs, *auth)
		}
		objs = append(objs, r.scaledObject(scale))
	}
	return objs
}

// collect finds the components fn uses, its trigger first, then their
// dead-letter targets.
func (r *renderer) collect() {
	names := append([]string{r.fn.Trigger}, r.fn.Components...)
	seen := map[string]bool{}
	for i := 0; i < len(names); i++ {
		name := names[i]
		if seen[name] {
			continue
		}
		seen[name] = true
		c, ok := r.set.Get(name)
		if !ok {
			r.fail(nil, "no component %q in the environment (known: %s)", name, strings.Join(componentNames(r.set), ", "))
			continue
		}
		r.components = append(r.components, c)
		if dl := c.Delivery.DeadLetter; dl != "" && name == r.fn.Trigger {
			names = append(names, dl)
		}
	}
}

func componentNames(set *component.Set) []string {
	var names []string
	for _, c := range set.Components() {
		names = append(names, c.Name)
	}
	return names
}

// labels are the labels of every object of the function.
func (r *renderer) labels() map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       r.fn.Name,
		"app.kubernetes.io/managed-by": "tether",
	}
}

func (r *renderer) meta(name string) Meta {
	return Meta{Name: name, Namespace: r.opts.Namespace, Labels: r.labels()}
}

func header(apiVersion, kind string, m Meta) Header {
	return Header{APIVersion: apiVersion, Kind: kind, Metadata: m}
}

func ptr[T any](v T) *T { return &v }
