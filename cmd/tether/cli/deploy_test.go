package cli_test

import (
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// secretMark is in every secret value the deploy tests can reach, so that
// a leak into any output is easy to see.
const secretMark = "s3cr3t-deploy"

const greetComponents = `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: mounted
spec:
  type: secretstores.local.directory
  version: v1
  metadata:
  - {name: path, value: /var/run/secrets/tether}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: names
spec:
  type: bindings.rabbitmq
  version: v1
  metadata:
  - {name: host, envRef: RABBITMQ_URL}
  - {name: queueName, value: names}
  - {name: deadLetter, value: names-dead}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: names-dead
spec:
  type: bindings.postgresql
  version: v1
  metadata:
  - {name: direction, value: output}
  - {name: connectionString, secretKeyRef: {name: db, key: dsn}}
auth:
  secretStore: mounted
`

// deployModule is a module with one function, greet, triggered by a
// RabbitMQ queue in components/prod, and secrets that resolve (from the
// environment and a mounted folder) to values holding secretMark.
func deployModule(t *testing.T) string {
	t.Helper()
	dir := module(t, map[string]string{
		"hello/hello.go":                hello,
		"hello/components/prod/a.yaml":  greetComponents,
		"hello/components/local/a.yaml": "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: names}\nspec:\n  type: bindings.memory\n  version: v1\n  metadata: [{name: queue, value: names}]\n",
		"var/run/secrets/tether/db/dsn": "postgres://app:" + secretMark + "@db/app",
	})
	t.Setenv("RABBITMQ_URL", "amqp://app:"+secretMark+"@rabbit:5672")
	t.Setenv("db", secretMark)
	return dir
}

func TestDeploy(t *testing.T) {
	dir := deployModule(t)
	var outputs []string // everything deploy printed or wrote, for the leak check

	code, stdout, stderr := run(t, dir, "deploy", "./hello", "--env", "prod", "--image", "registry.example/shop")
	outputs = append(outputs, stdout, stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"kind: ScaledObject", "type: rabbitmq", "parameter: host", "kind: TriggerAuthentication",
		"image: registry.example/shop/greet:latest", "name: greet-env", "key: RABBITMQ_URL",
		"name: db", "path: db/dsn", "names-dead.yaml: |", "mounted.yaml: |",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "not pinned by digest") {
		t.Errorf("no warning about the unpinned image: %q", stderr)
	}

	// One image reference pins the function's image.
	pinned := "registry.example/shop/greet@sha256:" + strings.Repeat("0", 64)
	code, stdout, stderr = run(t, dir, "deploy", "./hello", "--image", pinned, "-o", "out", "-n", "shop")
	outputs = append(outputs, stdout, stderr)
	if code != 0 {
		t.Fatalf("-o: exit %d: %s", code, stderr)
	}
	kustomization, err := os.ReadFile(filepath.Join(dir, "out", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"namespace: shop", "- greet.deployment.yaml", "- greet.scaledobject.yaml", "- greet.triggerauthentication.yaml", "- greet-components.configmap.yaml", "- greet.serviceaccount.yaml"} {
		if !strings.Contains(string(kustomization), want) {
			t.Errorf("kustomization.yaml lacks %q:\n%s", want, kustomization)
		}
	}
	if strings.Contains(string(kustomization), "- greet-env.secret.yaml") || strings.Contains(string(kustomization), "- db.secret.yaml") {
		t.Errorf("kustomization.yaml applies a Secret skeleton:\n%s", kustomization)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "out", "*.yaml"))
	if len(files) != 8 { // 2 skeletons, ServiceAccount, ConfigMap, Deployment, TriggerAuthentication, ScaledObject, kustomization
		t.Errorf("wrote %d files: %v", len(files)-1, files)
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		outputs = append(outputs, string(b))
		if strings.HasSuffix(f, "greet.deployment.yaml") && !strings.Contains(string(b), "image: "+pinned) {
			t.Errorf("the Deployment does not pin %s:\n%s", pinned, b)
		}
	}
	if strings.Contains(stderr, "not pinned") {
		t.Errorf("warned about a pinned image: %s", stderr)
	}
	// kustomize builds the folder (kubectl's own, when the machine has it).
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		out, err := exec.Command(kubectl, "kustomize", filepath.Join(dir, "out")).CombinedOutput()
		if err != nil || strings.Count(string(out), "\nkind: ") != 5 || !strings.Contains(string(out), "namespace: shop") {
			t.Errorf("kubectl kustomize: %v\n%s", err, out)
		}
	}

	// The local environment holds a memory binding: refused, with why.
	code, _, stderr = run(t, dir, "deploy", "./hello", "--env", "local", "--image", "registry.example/shop")
	outputs = append(outputs, stderr)
	if code == 0 || !strings.Contains(stderr, "hello/components/local/a.yaml:1: component \"names\": bindings.memory keeps messages in one process's memory and cannot be deployed") {
		t.Errorf("memory environment: exit %d, stderr %s", code, stderr)
	}
	// A missing environment says what to create.
	code, _, stderr = run(t, dir, "deploy", "./hello", "--env", "staging", "--image", "registry.example/shop")
	if code == 0 || !strings.Contains(stderr, "no folder components/staging (nor component files in components/): create it") {
		t.Errorf("missing environment: exit %d, stderr %s", code, stderr)
	}
	// Flags are checked before anything runs.
	for _, args := range [][]string{
		{"deploy", "./hello"},
		{"deploy", "./hello", "--image", "r", "--target", "lambda"},
		{"deploy", "./hello", "--image", "r", "--max-replicas", "0"},
		{"deploy", "./hello", "--image", "r", "--function", "nope"},
		{"deploy", "./hello", "--image", "r/greet:v1", "--build"},
	} {
		if code, _, stderr := run(t, dir, args...); code == 0 || !(strings.HasPrefix(stderr, "tether: ") || strings.HasPrefix(stderr, "tether deploy: ")) {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}

	for _, out := range outputs {
		if strings.Contains(out, secretMark) {
			t.Fatalf("a secret value is in deploy's output:\n%s", out)
		}
	}
}

// --apply refuses without kubectl or a kube context, naming the command to
// run once there is one; with both it runs server-side apply, the Secret
// skeletons left out. There is no cluster here: a stand-in kubectl
// records what it was given.
func TestDeployApply(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the stand-in kubectl is a shell script")
	}
	dir := deployModule(t)
	realKubectl, _ := exec.LookPath("kubectl")
	bin := t.TempDir()
	t.Setenv("PATH", bin+string(os.PathListSeparator)+filepath.Dir(goBinary(t)))

	code, _, stderr := run(t, dir, "deploy", "./hello", "--image", "r", "--apply")
	if code == 0 || !strings.Contains(stderr, "--apply needs kubectl on PATH and a kube context") ||
		!strings.Contains(stderr, "| kubectl apply --server-side --field-manager=tether -f -") {
		t.Errorf("no kubectl: exit %d, stderr %s", code, stderr)
	}

	log := filepath.Join(t.TempDir(), "kubectl.log")
	script := `#!/bin/sh
echo "$@" >> ` + log + `
case "$1 $2" in
"config current-context") [ -n "$KUBECTL_CONTEXT" ] && echo "$KUBECTL_CONTEXT" && exit 0; echo "error: current-context is not set" >&2; exit 1;;
esac
/bin/cat > ` + log + `.stdin
`
	if err := os.WriteFile(filepath.Join(bin, "kubectl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, dir, "deploy", "./hello", "--image", "r", "--apply")
	if code == 0 || !strings.Contains(stderr, "--apply needs a kube context") || !strings.Contains(stderr, "current-context is not set") {
		t.Errorf("no context: exit %d, stderr %s", code, stderr)
	}

	// The real kubectl, when the machine has one, with an empty kubeconfig.
	if realKubectl != "" {
		t.Setenv("PATH", filepath.Dir(realKubectl)+string(os.PathListSeparator)+filepath.Dir(goBinary(t)))
		t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "empty"))
		code, _, stderr = run(t, dir, "deploy", "./hello", "--image", "r", "--apply")
		if code == 0 || !strings.Contains(stderr, "--apply needs a kube context") {
			t.Errorf("real kubectl, no context: exit %d, stderr %s", code, stderr)
		}
		t.Setenv("PATH", bin+string(os.PathListSeparator)+filepath.Dir(goBinary(t)))
	}

	os.Remove(log)
	t.Setenv("KUBECTL_CONTEXT", "prod-cluster")
	code, _, stderr = run(t, dir, "deploy", "./hello", "--image", "r", "--apply")
	if code != 0 {
		t.Fatalf("apply: exit %d: %s", code, stderr)
	}
	calls, _ := os.ReadFile(log)
	if got, want := string(calls), "config current-context\napply --server-side --field-manager=tether -f -\n"; got != want {
		t.Errorf("kubectl calls:\n%s\nwant:\n%s", got, want)
	}
	sent, _ := os.ReadFile(log + ".stdin")
	if !strings.Contains(string(sent), "kind: ScaledObject") || strings.Contains(string(sent), "kind: Secret\n") {
		t.Errorf("applied stream (want the objects without the Secret skeletons):\n%s", sent)
	}
	if strings.Contains(string(sent), secretMark) {
		t.Error("a secret value was sent to kubectl")
	}
}

func goBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go binary on PATH: %v", err)
	}
	return p
}

// --build builds and pushes the function's image (to a registry on
// loopback, go-containerregistry's) and pins the digest it pushed.
func TestDeployBuild(t *testing.T) {
	dir := deployModule(t)
	if code, _, stderr := run(t, dir, "generate", "./hello"); code != 0 {
		t.Fatalf("generate: %s", stderr)
	}
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	repo := strings.TrimPrefix(reg.URL, "http://") + "/shop"
	code, stdout, stderr := run(t, dir, "deploy", "./hello", "--image", repo, "--build")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	ref, err := name.ParseReference(repo+"/greet:latest", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(ref)
	if err != nil {
		t.Fatalf("the registry has no %s: %v", ref, err)
	}
	if want := "image: " + repo + "/greet@" + desc.Digest.String(); !strings.Contains(stdout, want) {
		t.Errorf("the Deployment does not pin the pushed digest (%s):\n%s", want, stdout)
	}
	if strings.Contains(stderr, "not pinned") {
		t.Errorf("warned about pinned images: %s", stderr)
	}
}
