package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetherfn/tether/cmd/tether/cli"
)

// execCLI runs the command line in dir, as tether would from there.
func execCLI(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Run(context.Background(), &cli.Env{Stdout: &out, Stderr: &errOut, Dir: dir}, args)
	return code, out.String(), errOut.String()
}

// writeFiles writes files (path: content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestComponentsValidateReportsEveryMistake: five kinds of mistakes in five
// files, each reported with its file and line, and exit status 1.
func TestComponentsValidateReportsEveryMistake(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"bad/types.yaml": "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: orders\nspec:\n  type: bindings.memroy\n",
		"bad/keys.yaml": "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: shipped\nspec:\n  type: bindings.memory\n  metadata:\n" +
			"  - name: queu\n    value: shipped\n  - name: maxAttempts\n    value: many\n",
		"bad/required.yaml": "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: files\nspec:\n  type: bindings.localstorage\n",
		"bad/fields.yaml":   "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: audit\nspec:\n  type: bindings.memory\n  metdata: []\n",
		"bad/refs.yaml": "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: payments\nspec:\n  type: bindings.memory\n  metadata:\n" +
			"  - name: deadLetter\n    value: payment-failures\n",
	})
	code, stdout, stderr := execCLI(t, dir, "components", "validate", "bad")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing", stdout)
	}
	for _, want := range []string{
		filepath.Join("bad", "types.yaml") + `:6: unknown binding type "bindings.memroy"; did you mean "bindings.memory"?`,
		filepath.Join("bad", "keys.yaml") + `:8: metadata "queu": unknown key for bindings.memory; did you mean "queue"?`,
		filepath.Join("bad", "keys.yaml") + `:11: metadata "maxAttempts": "many" is not an integer`,
		filepath.Join("bad", "required.yaml") + `:5: missing required metadata "rootPath"`,
		filepath.Join("bad", "fields.yaml") + `:7: unknown field "metdata" in spec; did you mean "metadata"?`,
		filepath.Join("bad", "refs.yaml") + `:9: metadata "deadLetter": no component named "payment-failures"`,
		"6 problems in bad",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	writeFiles(t, dir, map[string]string{
		"good/orders.yaml": "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: orders\nspec:\n  type: bindings.memory\n",
	})
	code, stdout, stderr = execCLI(t, dir, "components", "validate", "good")
	if code != 0 || stdout != "good: 1 component, no problems\n" || stderr != "" {
		t.Errorf("a good folder: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, stderr = execCLI(t, dir, "components", "validate", "missing")
	if code != 1 || !strings.Contains(stderr, "missing") {
		t.Errorf("a missing folder: exit %d, stderr %q", code, stderr)
	}
}

func TestComponentsListRedactsSecrets(t *testing.T) {
	t.Setenv("TEST_NATS_URL", "nats://user:hunter2@127.0.0.1:4222")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"components/c.yaml": `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: orders
spec:
  type: bindings.nats
  version: v1
  metadata:
  - name: natsURL
    envRef: TEST_NATS_URL
  - name: stream
    value: ORDERS
  - name: maxAttempts
    value: "3"
  - name: deadLetter
    value: failed
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: failed
spec:
  type: bindings.memory
  metadata:
  - name: direction
    value: output
`})
	code, stdout, stderr := execCLI(t, dir, "components", "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"orders  bindings.nats v1  input, output  " + filepath.Join("components", "c.yaml") + ":1\n",
		"    natsURL ", "***\n", "    stream ", "ORDERS\n",
		"    maxAttempts     3\n", "    deadLetter      failed\n", "    handlerTimeout  5m0s\n",
		"failed  bindings.memory  output  ",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("list lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "hunter2") {
		t.Errorf("list shows the secret:\n%s", stdout)
	}

	code, stdout, stderr = execCLI(t, dir, "components", "list", "components", "--output", "json")
	if code != 0 {
		t.Fatalf("json: exit %d: %s", code, stderr)
	}
	if strings.Contains(stdout, "hunter2") {
		t.Errorf("json shows the secret:\n%s", stdout)
	}
	var got []struct {
		Name       string            `json:"name"`
		Directions []string          `json:"directions"`
		Metadata   map[string]string `json:"metadata"`
		Secrets    []string          `json:"secrets"`
		Delivery   *struct {
			MaxAttempts int    `json:"maxAttempts"`
			DeadLetter  string `json:"deadLetter"`
		} `json:"delivery"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if len(got) != 2 || got[0].Name != "orders" || got[0].Metadata["natsURL"] != "***" || len(got[0].Secrets) != 1 ||
		got[0].Delivery == nil || got[0].Delivery.MaxAttempts != 3 || got[0].Delivery.DeadLetter != "failed" ||
		got[1].Delivery != nil || strings.Join(got[1].Directions, ",") != "output" {
		t.Errorf("json = %+v", got)
	}

	code, _, stderr = execCLI(t, dir, "components", "list", "--output", "yaml")
	if code == 0 || !strings.Contains(stderr, `--output "yaml": want text or json`) || !strings.Contains(stderr, "--help") {
		t.Errorf("--output yaml: exit %d, %q", code, stderr)
	}
}

func TestComponentsMisspeltCommand(t *testing.T) {
	code, _, stderr := execCLI(t, t.TempDir(), "components", "valdate")
	if code != 1 || !strings.Contains(stderr, `unknown command "valdate"; did you mean "validate"?`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

const goodQueue = `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: orders
spec:
  type: bindings.memory
  version: v1
  metadata:
  - name: queue
    value: orders
`

const badType = `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: broken
spec:
  type: bindings.nope
  version: v1
`

const secretDB = `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: db
spec:
  type: bindings.postgresql
  version: v1
  metadata:
  - name: connectionString
    secretKeyRef:
      name: DB_URL_THAT_CI_DOES_NOT_HAVE
      key: DB_URL_THAT_CI_DOES_NOT_HAVE
`

// TestComponentsListShowsTheGoodBesideTheBad: one bad file does not hide
// the others (it hid every component).
func TestComponentsListShowsTheGoodBesideTheBad(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"c/a.yaml": goodQueue, "c/b.yaml": badType})
	code, stdout, stderr := execCLI(t, dir, "components", "list", "c")
	if code != 1 || !strings.Contains(stdout, "orders  bindings.memory v1") || !strings.Contains(stderr, `c/b.yaml:6: unknown binding type "bindings.nope"`) {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1, orders listed, b.yaml's problem on stderr", code, stdout, stderr)
	}
}

// TestComponentsValidateForCI: --no-secrets checks an environment without
// its secrets; --output json reports for machines.
func TestComponentsValidateForCI(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"prod/db.yaml": secretDB, "prod/q.yaml": goodQueue})
	if code, _, stderr := execCLI(t, dir, "components", "validate", "prod"); code != 1 || !strings.Contains(stderr, "DB_URL_THAT_CI_DOES_NOT_HAVE") {
		t.Fatalf("without the secret: exit %d, %s; want the unresolved secret reported", code, stderr)
	}
	code, stdout, stderr := execCLI(t, dir, "components", "validate", "prod", "--no-secrets")
	if code != 0 || !strings.Contains(stdout, "2 components, no problems") {
		t.Errorf("--no-secrets: exit %d\n%s%s", code, stdout, stderr)
	}

	writeFiles(t, dir, map[string]string{"prod/z.yaml": badType})
	code, stdout, _ = execCLI(t, dir, "components", "validate", "prod", "--no-secrets", "-o", "json")
	var got struct {
		Components int
		Problems   []struct {
			File    string
			Line    int
			Message string
		}
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("-o json: %v\n%s", err, stdout)
	}
	if code != 1 || got.Components != 2 || len(got.Problems) != 1 || got.Problems[0].File != "prod/z.yaml" || got.Problems[0].Line != 6 ||
		!strings.Contains(got.Problems[0].Message, "bindings.nope") {
		t.Errorf("-o json: exit %d, %+v", code, got)
	}
}

// TestComponentsValidateRefusesWhatOpenWould: values that pass their kind
// but that a driver refuses when it opens (an SQS endpoint as a bare host, a
// URL that does not parse, a cron schedule) are reported at their line, as
// start-up would refuse them; with --no-secrets a value not looked up is
// not judged.
func TestComponentsValidateRefusesWhatOpenWould(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	head := "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\nspec:\n  type: %s\n  metadata:\n"
	writeFiles(t, dir, map[string]string{
		"bad/sqs.yaml": fmt.Sprintf(head, "orders", "bindings.aws.sqs") +
			"  - name: queueName\n    value: orders\n  - name: endpoint\n    value: localhost:4566\n",
		"bad/mqtt.yaml": fmt.Sprintf(head, "sensors", "bindings.mqtt3") +
			"  - name: url\n    value: \"tcp://[::1\"\n  - name: topic\n    value: sensors\n  - name: consumerID\n    value: sensors\n",
		"bad/cron.yaml": fmt.Sprintf(head, "tick", "bindings.cron") +
			"  - name: schedule\n    value: \"@every fortnight\"\n",
		"ci/sqs.yaml": fmt.Sprintf(head, "orders", "bindings.aws.sqs") +
			"  - name: queueName\n    value: orders\n  - name: endpoint\n    envRef: SQS_ENDPOINT_THAT_CI_DOES_NOT_HAVE\n",
	})
	code, stdout, stderr := execCLI(t, dir, "components", "validate", "bad")
	if code != 1 || stdout != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", code, stdout)
	}
	for _, want := range []string{
		filepath.Join("bad", "sqs.yaml") + `:11: metadata "endpoint": "localhost:4566" is not an http:// or https:// URL`,
		filepath.Join("bad", "mqtt.yaml") + `:9: metadata "url"`,
		filepath.Join("bad", "cron.yaml") + `:9: metadata "schedule"`,
		"3 problems in bad",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	code, stdout, stderr = execCLI(t, dir, "components", "validate", "ci", "--no-secrets")
	if code != 0 || stderr != "" {
		t.Errorf("--no-secrets with the endpoint unresolved: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestComponentsValidateNamesUnlinkedTypes: a component whose binding type
// the function's generated main does not link (a file added after go
// generate) is a problem at its file:line, as start-up would refuse it.
func TestComponentsValidateNamesUnlinkedTypes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	head := "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\nspec:\n  type: %s\n"
	writeFiles(t, dir, map[string]string{
		"orders/components/local/queue.yaml": fmt.Sprintf(head, "queue", "bindings.memory"),
		"orders/components/local/tick.yaml":  fmt.Sprintf(head, "tick", "bindings.cron") + "  metadata:\n  - name: schedule\n    value: \"@every 1m\"\n",
		"orders/cmd/orders/main_gen.go":      "package main\n\nimport (\n\t_ \"github.com/tetherfn/tether/bindings/memory\"\n)\n\nfunc main() {}\n",
	})
	code, _, stderr := execCLI(t, dir, "components", "validate", "orders/components/local")
	want := filepath.Join("orders", "components", "local", "tick.yaml") + ":1: bindings.cron is not linked into orders, so tick would not start: run go generate ./..."
	if code != 1 || !strings.Contains(stderr, want) || strings.Contains(stderr, "queue.yaml") {
		t.Errorf("exit %d, stderr:\n%s\nwant 1 and %q only", code, stderr, want)
	}
	code, stdout, _ := execCLI(t, dir, "components", "validate", "orders/components/local", "-o", "json")
	if code != 1 || !strings.Contains(stdout, `"bindings.cron is not linked into orders`) {
		t.Errorf("-o json: exit %d, stdout %s", code, stdout)
	}
	// Once main links it, the folder is valid.
	writeFiles(t, dir, map[string]string{
		"orders/cmd/orders/main_gen.go": "package main\n\nimport (\n\t_ \"github.com/tetherfn/tether/bindings/cron\"\n\t_ \"github.com/tetherfn/tether/bindings/memory\"\n)\n\nfunc main() {}\n",
	})
	if code, stdout, stderr := execCLI(t, dir, "components", "validate", "orders/components/local"); code != 0 {
		t.Errorf("linked: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestComponentsValidateChecksEveryDriver: the values PostgreSQL, the
// in-memory queue and local storage refuse when they open (a table name
// that cannot be quoted safely, a lease under a second, a negative queue
// length, a root in /proc) are reported at their line, without a database;
// with --no-secrets, PostgreSQL's unresolved connection string does not
// hide its other keys' problems.
func TestComponentsValidateChecksEveryDriver(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	head := "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\nspec:\n  type: %s\n  metadata:\n"
	pgURL := "  - name: connectionString\n    value: postgres://nobody@127.0.0.1:1/none\n"
	writeFiles(t, dir, map[string]string{
		"bad/table.yaml": fmt.Sprintf(head, "orders", "bindings.postgresql") + pgURL +
			"  - name: table\n    value: orders;drop\n",
		"bad/lease.yaml": fmt.Sprintf(head, "jobs", "bindings.postgres") + pgURL +
			"  - name: leaseDuration\n    value: 500ms\n",
		"bad/conn.yaml": fmt.Sprintf(head, "db", "bindings.postgresql") +
			"  - name: connectionString\n    value: \"postgres://[::1\"\n",
		"bad/memory.yaml": fmt.Sprintf(head, "q", "bindings.memory") +
			"  - name: maxLength\n    value: \"-1\"\n",
		"bad/files.yaml": fmt.Sprintf(head, "files", "bindings.localstorage") +
			"  - name: rootPath\n    value: /proc/self\n",
		"ci/table.yaml": fmt.Sprintf(head, "orders", "bindings.postgresql") +
			"  - name: connectionString\n    envRef: PG_URL_THAT_CI_DOES_NOT_HAVE\n  - name: table\n    value: a.b.c\n",
		"ci/good.yaml": fmt.Sprintf(head, "jobs", "bindings.postgresql") +
			"  - name: connectionString\n    envRef: PG_URL_THAT_CI_DOES_NOT_HAVE\n  - name: table\n    value: jobs\n",
	})
	code, stdout, stderr := execCLI(t, dir, "components", "validate", "bad")
	if code != 1 || stdout != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", code, stdout)
	}
	for _, want := range []string{
		filepath.Join("bad", "table.yaml") + `:11: metadata "table": "orders;drop": each part must be`,
		filepath.Join("bad", "lease.yaml") + `:11: metadata "leaseDuration": must be at least 1s`,
		filepath.Join("bad", "conn.yaml") + `:9: metadata "connectionString": cannot be parsed`,
		filepath.Join("bad", "memory.yaml") + `:9: metadata "maxLength": must be 0 (unbounded) or more, got -1`,
		filepath.Join("bad", "files.yaml") + `:9: metadata "rootPath": "/proc/self" is inside /proc`,
		"5 problems in bad",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "[::1") {
		t.Errorf("the secret connection string is quoted:\n%s", stderr)
	}
	code, _, stderr = execCLI(t, dir, "components", "validate", "ci", "--no-secrets")
	want := filepath.Join("ci", "table.yaml") + `:11: metadata "table": "a.b.c": want name or schema.name`
	if code != 1 || !strings.Contains(stderr, want) || strings.Contains(stderr, "good.yaml") || strings.Contains(stderr, "connectionString") {
		t.Errorf("--no-secrets: exit %d, stderr:\n%s\nwant only %q", code, stderr, want)
	}
}
