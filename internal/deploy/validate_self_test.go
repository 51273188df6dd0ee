package deploy_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// The validator must fail on what it is there to catch; each case breaks
// one rule in an otherwise valid stream and expects the named complaint.
func TestValidatorRejects(t *testing.T) {
	const account = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: f}\n"
	const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: f}
spec:
  selector: {matchLabels: {app: f}}
  template:
    metadata: {labels: {app: f}}
    spec:
      serviceAccountName: f
      terminationGracePeriodSeconds: 30
      containers:
      - name: f
        image: r/f@sha256:00
        ports: [{name: probe, containerPort: 9090}]
        env: [{name: TETHER_LOG_FORMAT, value: json}]
        resources: {requests: {cpu: 50m}, limits: {memory: 64Mi}}
        readinessProbe: {httpGet: {path: /readyz, port: probe}}
        livenessProbe: {httpGet: {path: /healthz, port: probe}}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: {drop: [ALL]}}
`
	const scaled = `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: f}
spec:
  scaleTargetRef: {name: f}
  triggers:
  - type: rabbitmq
    metadata: {queueName: q, host: "amqp://rabbit"}
`
	valid := account + "---\n" + deployment + "---\n" + scaled
	if problems := collect(valid); len(problems) > 0 {
		t.Fatalf("the valid stream is refused:\n%s", strings.Join(problems, "\n"))
	}
	cases := []struct{ name, stream, want string }{
		{"unknown Deployment field", strings.Replace(valid, "terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds: 30\n      gracePeriod: 3", 1), `unknown field "gracePeriod"`},
		{"misplaced field", strings.Replace(valid, "      serviceAccountName: f", "      serviceAccountName: f\n      image: x", 1), `unknown field "image"`},
		{"unknown ScaledObject field", strings.Replace(valid, "  scaleTargetRef: {name: f}", "  scaleTargetRef: {name: f}\n  minReplicas: 0", 1), `unknown field "minReplicas"`},
		{"unknown scaler metadata", strings.Replace(valid, "queueName: q,", "queueName: q, queueLenght: '5',", 1), `rabbitmq has no metadata "queueLenght"`},
		{"missing scaler metadata", strings.Replace(valid, "queueName: q, ", "", 1), `rabbitmq needs one of [queueName]`},
		{"unpinned image", strings.Replace(valid, "r/f@sha256:00", "r/f:latest", 1), "not pinned by digest"},
		{"writable root", strings.Replace(valid, "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", 1), "not hardened"},
		{"probe on an unnamed port", strings.Replace(valid, "port: probe}}\n        livenessProbe", "port: metrics}}\n        livenessProbe", 1), `port "metrics"`},
		{"missing ServiceAccount", strings.Replace(valid, "serviceAccountName: f", "serviceAccountName: g", 1), `ServiceAccount "g"`},
		{"secret with a value", valid + "---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {K: v}\n", "has a value"},
		{"scale target missing", strings.Replace(valid, "scaleTargetRef: {name: f}", "scaleTargetRef: {name: g}", 1), "scales Deployment g"},
		{"knative extra pod field", "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: k}\nspec:\n  template:\n    spec:\n      hostNetwork: true\n      containers: [{image: r@sha256:00}]\n", "needs a Knative feature flag"},
		{"knative field type", "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: k}\nspec:\n  template:\n    spec:\n      containerConcurrency: lots\n      containers: [{image: r@sha256:00}]\n", "want an integer"},
	}
	for _, c := range cases {
		problems := collect(c.stream)
		if !strings.Contains(strings.Join(problems, "\n"), c.want) {
			t.Errorf("%s: want a problem containing %q, got:\n%s", c.name, c.want, strings.Join(problems, "\n"))
		}
	}
}

// collect runs validateStream on a throwaway T and returns what it reported.
func collect(stream string) []string {
	rec := &recorder{}
	done := make(chan struct{})
	go func() { // Fatal ends this goroutine, as it would a test's
		defer close(done)
		validateStream(rec, []byte(stream))
	}()
	<-done
	return rec.problems
}

type recorder struct{ problems []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatal(args ...any) {
	r.problems = append(r.problems, fmt.Sprint(args...))
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}
