package component

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// secretMark is in every secret value of the test data (environment, JSON
// files, mounted files), so that a leak into any message or log line is
// easy to catch.
const secretMark = "s3cr3t"

var testEnv = map[string]string{
	"QUEUE_PASSWORD":    "s3cr3t-env-password",
	"API_TOKEN":         "s3cr3t-api-token",
	"APP_TOKEN":         "s3cr3t-prefixed-token",
	"MODE_SECRET":       "s3cr3t-mode",
	"DIRECTION_SECRET":  "s3cr3t-direction",
	"DEADLETTER_SECRET": "s3cr3t-deadletter",
}

func lookupTestEnv(k string) (string, bool) { v, ok := testEnv[k]; return v, ok }

// testOptions returns options reading testEnv and a buffer receiving the log.
func testOptions(appID string) (*Options, *bytes.Buffer) {
	var log bytes.Buffer
	return &Options{
		AppID:     appID,
		Logger:    slog.New(slog.NewTextHandler(&log, nil)),
		LookupEnv: lookupTestEnv,
	}, &log
}

func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	if strings.Contains(text, secretMark) {
		t.Errorf("%s shows a secret value:\n%s", what, text)
	}
}

func TestLoadValid(t *testing.T) {
	opts, log := testOptions("shop")
	set, err := Load([]string{"testdata/valid", "testdata/extra"}, opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}

	var names []string
	for _, c := range set.Components() {
		names = append(names, c.Name)
	}
	want := []string{
		"audit",                              // testdata/extra/audit.yaml
		"orders", "failed-orders", "nightly", // testdata/valid/bindings.yaml
		"webhook",                                                 // http.yml
		"k8s-queue", "docker-http", "broker-out", "prefixed-http", // secrets-users.yaml
	}
	if !slices.Equal(names, want) {
		t.Fatalf("components = %q, want %q (file, then line order; stores and skipped resources left out)", names, want)
	}

	orders, ok := set.Get("orders")
	if !ok {
		t.Fatal(`Get("orders") found nothing`)
	}
	if orders.File != filepath.Join("testdata", "valid", "bindings.yaml") || orders.Line != 3 {
		t.Errorf("orders at %s:%d, want testdata/valid/bindings.yaml:3", orders.File, orders.Line)
	}
	if orders.Namespace != "shop" || orders.Type != "bindings.testqueue" || orders.Version != "v1" || orders.Binding.Name != "bindings.testqueue" {
		t.Errorf("orders identity = %q %q %q %v", orders.Namespace, orders.Type, orders.Version, orders.Binding.Name)
	}
	if orders.Direction != bindings.DirBoth {
		t.Errorf("orders direction = %s, want every direction the type supports", orders.Direction)
	}
	if orders.Route != "/incoming/orders" {
		t.Errorf("orders route = %q", orders.Route)
	}
	if orders.InitTimeout != 10*time.Second || !orders.IgnoreErrors || orders.SecretStore != "local-file" || !slices.Equal(orders.Scopes, []string{"shop", "admin"}) {
		t.Errorf("orders spec = %v %v %q %q", orders.InitTimeout, orders.IgnoreErrors, orders.SecretStore, orders.Scopes)
	}
	for k, v := range map[string]string{
		"queueName":         "orders",             // written "QueueName": canonical name
		"password":          "s3cr3t-file-nested", // secretKeyRef redis:password, flattened with ":"
		"maxMessages":       "25",
		"mode":              "fifo", // default
		"visibilityTimeout": "30s",  // default
	} {
		if got := orders.Metadata[k]; got != v {
			t.Errorf("orders metadata %s = %q, want %q", k, got, v)
		}
	}
	wantDelivery := bindings.DefaultDeliveryPolicy()
	wantDelivery.MaxConcurrency = 4
	wantDelivery.DeadLetter = "failed-orders"
	if orders.Delivery != wantDelivery {
		t.Errorf("orders delivery = %+v, want %+v", orders.Delivery, wantDelivery)
	}
	if red := orders.Redacted(); red["password"] != "***" || red["queueName"] != "orders" {
		t.Errorf("Redacted = %v", red)
	}
	if orders.Metadata["password"] != "s3cr3t-file-nested" {
		t.Error("Redacted changed the component's own metadata")
	}

	failed, _ := set.Get("failed-orders")
	if failed.Type != "bindings.tq" || failed.Binding.Name != "bindings.testqueue" {
		t.Errorf("alias: type %q, binding %q", failed.Type, failed.Binding.Name)
	}
	if failed.Direction != bindings.DirOutput || failed.Route != "" || failed.Delivery != (bindings.DeliveryPolicy{}) {
		t.Errorf("output-only component: direction %s, route %q, delivery %+v", failed.Direction, failed.Route, failed.Delivery)
	}
	if failed.Metadata["password"] != "s3cr3t-env-password" || !failed.SecretKeys["password"] {
		t.Errorf("envRef: password = %q, secret %v", failed.Metadata["password"], failed.SecretKeys)
	}

	nightly, _ := set.Get("nightly")
	if nightly.Route != "/nightly" || nightly.Delivery != bindings.DefaultDeliveryPolicy() || len(nightly.SecretKeys) != 0 {
		t.Errorf("nightly: route %q, delivery %+v, secrets %v", nightly.Route, nightly.Delivery, nightly.SecretKeys)
	}

	// One secret from each kind of store, and keys the type declares Secret.
	for _, tc := range []struct{ component, key, want string }{
		{"webhook", "token", "s3cr3t-api-token"},            // default store: environment
		{"k8s-queue", "password", "s3cr3t-dir-password"},    // directory: <path>/db/password
		{"docker-http", "token", "s3cr3t-docker-token"},     // directory, no key: <path>/apitoken
		{"broker-out", "queueName", "s3cr3t-multi-single"},  // multiValued file, plain secret
		{"broker-out", "password", "s3cr3t-multi-ca"},       // multiValued file, nested key "tls.ca"
		{"prefixed-http", "token", "s3cr3t-prefixed-token"}, // env store with prefix APP_
		{"audit", "token", "s3cr3t-file-plain"},             // a store of another folder
	} {
		c, _ := set.Get(tc.component)
		if c.Metadata[tc.key] != tc.want {
			t.Errorf("%s %s = %q, want %q", tc.component, tc.key, c.Metadata[tc.key], tc.want)
		}
		if !c.SecretKeys[tc.key] || c.Redacted()[tc.key] != "***" {
			t.Errorf("%s %s is not redacted", tc.component, tc.key)
		}
	}

	// One info line per skipped resource, none for loaded ones.
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	var skipped []string
	for _, l := range lines {
		if !strings.Contains(l, "level=INFO") || !strings.Contains(l, "skipping") {
			t.Errorf("unexpected log line: %s", l)
		}
		for _, name := range []string{"retries", "pubsub", "orders-sub", "tracing", "vault", "billing-queue"} {
			if strings.Contains(l, "name="+name+" ") {
				skipped = append(skipped, name)
			}
		}
	}
	if want := []string{"retries", "pubsub", "orders-sub", "tracing", "vault", "billing-queue"}; !slices.Equal(skipped, want) {
		t.Errorf("skipped (one line each) = %q, want %q; log:\n%s", skipped, want, log.String())
	}
	if !strings.Contains(log.String(), `reason="its scopes do not include app \"shop\""`) {
		t.Errorf("the scope skip does not say why:\n%s", log.String())
	}
	assertNoSecret(t, "the log", log.String())
}

func TestLoadScopes(t *testing.T) {
	// Without an app id every component is loaded, scoped or not.
	opts, _ := testOptions("")
	set, err := Load([]string{"testdata/valid"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := set.Get("billing-queue"); !ok {
		t.Error("without AppID, billing-queue (scopes: billing) was skipped")
	}

	// For app "billing", orders (scopes: shop, admin) is skipped instead.
	opts, log := testOptions("billing")
	set, err = Load([]string{"testdata/valid"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := set.Get("billing-queue"); !ok {
		t.Error(`billing-queue is scoped to "billing" but was not loaded for it`)
	}
	if _, ok := set.Get("orders"); ok {
		t.Error(`orders is scoped to shop and admin but was loaded for "billing"`)
	}
	if n := strings.Count(log.String(), "name=orders "); n != 1 {
		t.Errorf("%d log lines about orders, want 1:\n%s", n, log.String())
	}
}

// wantInvalid is every problem in testdata/invalid, in order. Each file
// holds one family: keys and values, structure, malformed YAML, references
// between components, secrets.
var wantInvalid = []string{
	`keys.yaml:7: unknown binding type "bindings.testqueu"; did you mean "bindings.testqueue"?`,
	`keys.yaml:15: unknown component type "testcron"; did you mean "bindings.testcron"?`,
	`keys.yaml:23: spec.version "v2": bindings.testqueue is version v1`,
	`keys.yaml:24: missing required metadata "queueName" (Queue to use.)`,
	`keys.yaml:25: metadata "queueNmae": unknown key for bindings.testqueue; did you mean "queueName"?`,
	`keys.yaml:28: metadata "maxMessages": "many" is not an integer`,
	`keys.yaml:30: metadata "mode": "random" is not one of fifo, lifo`,
	`keys.yaml:32: metadata "visibilityTimeout": value must be a string, number or boolean, not a list`,
	`keys.yaml:34: metadata "maxConcurrency": must be at least 1, got 0`,
	`keys.yaml:35: metadata "MAXMESSAGES" is set twice (first on line 27)`,
	`keys.yaml:44: missing required metadata "schedule" (Cron expression.)`,
	`keys.yaml:46: metadata "direction": "inptu" is not input, output or "input, output"; did you mean "input"?`,
	`keys.yaml:58: metadata "direction": bindings.testcron can be used for input only`,
	`keys.yaml:70: metadata "maxInterval": 1m0s is shorter than initialInterval 5m0s`,
	`refs.yaml:11: metadata "deadLetter": "ticker" (bindings.testcron) is not an output: its direction is input`,
	`refs.yaml:23: metadata "deadLetter": no component named "job"; did you mean "jobs"?`,
	`refs.yaml:28: duplicate component name "jobs" (first defined at testdata/invalid/refs.yaml:4)`,
	`refs.yaml:45: metadata "deadLetter": "files" is a secret store, not an output binding`,
	`refs.yaml:57: metadata "deadLetter": "events" is a pubsub.redis component, not an output binding`,
	`secrets.yaml:19: metadata "secretsFile": "missing.json" does not exist`,
	`secrets.yaml:30: metadata "nestedSeperator": unknown key for secretstores.local.file; did you mean "nestedSeparator"?`,
	`secrets.yaml:38: unknown secret store type "secretstores.local.fil"; did you mean "secretstores.local.file"?`,
	`secrets.yaml:48: metadata "path": a secret store takes its metadata from value or envRef, not secretKeyRef`,
	`secrets.yaml:58: metadata "path": "no-such-folder" does not exist`,
	`secrets.yaml:68: metadata "secretsFile": "broken.json" is not valid JSON (line 3)`,
	`secrets.yaml:78: metadata "queueName": cannot resolve secretKeyRef name "nested:queu" from secret store "files" (secretstores.local.file): the file has no secret "nested:queu"; did you mean "nested:queue"?`,
	`secrets.yaml:80: metadata "password": cannot resolve secretKeyRef name "nested" key "password" from secret store "files" (secretstores.local.file): the file has no secret "nested"`,
	`secrets.yaml:82: metadata "maxMessages": the value from secret "notAnInt" of secret store "files" (secretstores.local.file) is not a valid int`,
	`secrets.yaml:84: metadata "mode": the value from environment variable "MODE_SECRET" (envRef) is not one of fifo, lifo`,
	`secrets.yaml:86: metadata "visibilityTimeout": envRef: environment variable "UNSET_VARIABLE" is not set`,
	`secrets.yaml:88: metadata "maxConcurrency": out of range, with values from secret "zero" of secret store "files" (secretstores.local.file)`,
	`secrets.yaml:100: metadata "url": cannot resolve secretKeyRef name "NOT_SET" from the default secret store (secretstores.local.env): environment variable "NOT_SET" is not set`,
	`secrets.yaml:102: metadata "token": cannot resolve secretKeyRef name "DAPR_API_TOKEN" from the default secret store (secretstores.local.env): environment variable "DAPR_API_TOKEN" is reserved (APP_API_TOKEN, TETHER_API_TOKEN, TETHER_APP_TOKEN and DAPR_* are not readable as secrets)`,
	`secrets.yaml:114: auth.secretStore: no secret store named "filez"; did you mean "files"?`,
	`secrets.yaml:126: auth.secretStore: secret store "vault" is not loaded: secret store type secretstores.hashicorp.vault is not supported (Tether reads secretstores.local.directory, secretstores.local.env, secretstores.local.file)`,
	`secrets.yaml:145: auth.secretStore: "uses-env" is a binding (bindings.testhttp), not a secret store`,
	`secrets.yaml:157: metadata "direction": the value from environment variable "DIRECTION_SECRET" (envRef) is not a direction (input, output or "input, output")`,
	`secrets.yaml:169: metadata "deadLetter": the component named by environment variable "DEADLETTER_SECRET" (envRef) does not exist`,
	`secrets.yaml:189: metadata "url": cannot resolve secretKeyRef name "db" key "url" from secret store "mounted" (secretstores.local.directory): testdata/invalid/mounted/db/url does not exist`,
	`secrets.yaml:191: metadata "token": cannot resolve secretKeyRef name ".." key "token" from secret store "mounted" (secretstores.local.directory): secret name ".." is not a plain file name`,
	`secrets.yaml:203: metadata "multiValued": "yes please" is not a boolean (true or false)`,
	`secrets.yaml:223: metadata "url": cannot resolve secretKeyRef name "broker" key "pasword" from secret store "multi-ok" (secretstores.local.file): secret "broker" has no key "pasword"; did you mean "password"?`,
	`structure.yaml:7: unknown field "metdata" in spec; did you mean "metadata"?`,
	`structure.yaml:12: unknown kind "Componet"; did you mean "Component"?`,
	`structure.yaml:16: apiVersion "dapr.io/v1beta1": want dapr.io/v1alpha1`,
	`structure.yaml:20: unknown field "nmae" in metadata; did you mean "name"?`,
	`structure.yaml:26: metadata entry without "name"`,
	`structure.yaml:27: metadata "schedule" is set twice (first on line 24)`,
	`structure.yaml:29: a metadata entry takes only one of value, secretKeyRef and envRef`,
	`structure.yaml:30: spec.initTimeout "soon" is not a duration (like 5s or 1m)`,
	`structure.yaml:31: spec.ignoreErrors "maybe" is not a boolean (true or false)`,
	`structure.yaml:32: scopes must be a list of app ids, not a scalar`,
	`structure.yaml:34: a document must be a mapping (a Dapr resource with apiVersion and kind), not a list`,
	`structure.yaml:37: missing metadata.name`,
	`structure.yaml:41: spec.metadata must be a list of entries (- name: ... value: ...), not a mapping`,
	`structure.yaml:46: metadata.name "bad/name": must not contain "/", "\", "?", "#" or "%"`,
	`structure.yaml:47: metadata: "name" is set twice (first on line 46)`,
	`structure.yaml:52: secretKeyRef needs a name (the secret's name in the store)`,
	`structure.yaml:54: envRef is empty; name an environment variable`,
	`yaml.yaml:15: malformed YAML: mapping values are not allowed in this context`,
	`yaml.yaml:25: missing required metadata "schedule" (Cron expression.)`,
	`yaml.yaml:26: metadata "shedule": unknown key for bindings.testcron; did you mean "schedule"?`,
}

func TestLoadInvalidReportsEveryProblem(t *testing.T) {
	opts, log := testOptions("")
	set, err := Load([]string{"testdata/invalid"}, opts)
	// With the problems comes the set of what loaded, for tools that show
	// the good beside the bad; every component in it loaded cleanly.
	if set == nil {
		t.Fatalf("Load returned no set along with its problems")
	}
	for _, c := range set.Components() {
		if c.Binding == nil {
			t.Errorf("component %s in the set has no binding type", c.Name)
		}
	}
	var diags Diagnostics
	if !errors.As(err, &diags) {
		t.Fatalf("error %T is not Diagnostics: %v", err, err)
	}
	var got []string
	for _, d := range diags {
		if d.Line < 1 {
			t.Errorf("no line: %v", d)
		}
		got = append(got, strings.TrimPrefix(d.Error(), "testdata/invalid/"))
	}
	for i := 0; i < max(len(got), len(wantInvalid)); i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(wantInvalid) {
			w = wantInvalid[i]
		}
		if g != w {
			t.Errorf("diagnostic %d:\n got %s\nwant %s", i, g, w)
		}
	}
	if err.Error() != diags.Error() || strings.Count(err.Error(), "\n") != len(diags)-1 {
		t.Errorf("the error is not one diagnostic per line")
	}
	// Secret values were read (the test environment and files hold them)
	// and were wrong in several ways; none may show.
	assertNoSecret(t, "the error", err.Error())
	assertNoSecret(t, "the log", log.String())
}

func TestLoadFolders(t *testing.T) {
	empty := t.TempDir()
	set, err := Load([]string{empty}, nil)
	if err != nil {
		t.Fatalf("empty folder: %v", err)
	}
	if n := len(set.Components()); n != 0 {
		t.Errorf("empty folder: %d components", n)
	}

	// Not *.yaml or *.yml, or in a sub-folder: not read.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not: [yaml"), 0o644)
	os.Mkdir(filepath.Join(dir, "prod"), 0o755)
	os.WriteFile(filepath.Join(dir, "prod", "broken.yaml"), []byte("not: [yaml"), 0o644)
	os.WriteFile(filepath.Join(dir, "only-comments.YML"), []byte("# nothing yet\n---\n"), 0o644)
	if _, err := Load([]string{dir}, nil); err != nil {
		t.Errorf("files that are not components were read: %v", err)
	}

	missing := filepath.Join(empty, "nope")
	_, err = Load([]string{missing, "testdata/valid/bindings.yaml"}, nil)
	want := missing + ": components folder does not exist\ntestdata/valid/bindings.yaml: is not a folder of components"
	if err == nil || err.Error() != want {
		t.Errorf("Load(missing, file) error:\n%v\nwant\n%s", err, want)
	}

	// The same folder twice is read once, not reported as duplicates.
	opts, _ := testOptions("")
	if _, err := Load([]string{"testdata/valid", "testdata/valid/"}, opts); err != nil {
		t.Errorf("same folder twice: %v", err)
	}
}

func TestComponentConfigOpens(t *testing.T) {
	opts, _ := testOptions("")
	set, err := Load([]string{"testdata/valid"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := set.Get("failed-orders")
	cfg := c.Config(nil)
	if cfg.Name != "failed-orders" || cfg.Type != "bindings.tq" || cfg.Metadata["password"] != "s3cr3t-env-password" {
		t.Errorf("Config = %+v", cfg)
	}
	cfg.Metadata["queueName"] = "changed"
	if c.Metadata["queueName"] != "orders-dlq" {
		t.Error("Config shares the component's metadata map")
	}
	// The registry accepts the config as it is: opening gets past
	// validation to the (test-only) constructor.
	_, _, err = bindings.OpenOutput(context.Background(), c.Config(slog.New(slog.DiscardHandler)))
	var be *bindings.Error
	if !errors.As(err, &be) || be.Op != "open output" {
		t.Errorf("OpenOutput(Config()) = %v, want the test type's constructor error", err)
	}
}

func TestParse(t *testing.T) {
	data, err := os.ReadFile("testdata/valid/bindings.yaml")
	if err != nil {
		t.Fatal(err)
	}
	comps, err := Parse("bindings.yaml", data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(comps) != 3 {
		t.Fatalf("%d components, want 3", len(comps))
	}
	orders := comps[0]
	// No secret store was read: the key is known to be secret, its value is not.
	if v, ok := orders.Metadata["password"]; !ok || v != "" || !orders.SecretKeys["password"] {
		t.Errorf("unresolved secret: %q (present %v), secret %v", v, ok, orders.SecretKeys)
	}
	// The deadLetter target is in the same file here, but references are
	// Load's business; so are those to other files.
	if orders.Delivery.DeadLetter != "failed-orders" {
		t.Errorf("deadLetter = %q", orders.Delivery.DeadLetter)
	}
	if comps[1].Metadata["password"] != "" || !comps[1].SecretKeys["password"] {
		t.Errorf("envRef was resolved by Parse: %v", comps[1].Redacted())
	}

	// Per-document problems are the same as Load's for that file.
	data, err = os.ReadFile("testdata/invalid/keys.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse("testdata/invalid/keys.yaml", data)
	var want []string
	for _, w := range wantInvalid {
		if strings.HasPrefix(w, "keys.yaml:") {
			want = append(want, "testdata/invalid/"+w)
		}
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("Parse(keys.yaml):\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}

	// Cross-document checks are left to Load.
	refs := []byte(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: a}
spec:
  type: bindings.testcron
  metadata:
  - {name: schedule, value: "@daily"}
  - {name: deadLetter, value: elsewhere}
  - {name: maxAttempts, secretKeyRef: {name: attempts}}
auth: {secretStore: defined-in-another-file}
`)
	if _, err := Parse("refs.yaml", refs); err != nil {
		t.Errorf("Parse reported a cross-document problem: %v", err)
	}
}

func TestDiagnostics(t *testing.T) {
	ds := Diagnostics{
		{File: "b.yaml", Line: 2, Msg: "second file"},
		{File: "a.yaml", Line: 10, Msg: "later"},
		{File: "a.yaml", Line: 3, Msg: "first"},
		{File: "a.yaml", Line: 3, Msg: "same line, found after"},
		{File: "components", Msg: "about the folder"},
	}
	err := ds.err()
	want := "a.yaml:3: first\na.yaml:3: same line, found after\na.yaml:10: later\nb.yaml:2: second file\ncomponents: about the folder"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	if err := (Diagnostics{}).err(); err != nil {
		t.Errorf("no diagnostics gave error %v", err)
	}
}

func TestStoreMetadataFromEnv(t *testing.T) {
	dir := t.TempDir()
	secrets := filepath.Join(dir, "s3cr3t-path.json")
	if err := os.WriteFile(secrets, []byte(`{"token": "s3cr3t-token"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("store.yaml", `apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: files}
spec:
  type: secretstores.local.file
  metadata:
  - name: secretsFile
    envRef: SECRETS_FILE
`)
	write("http.yaml", `apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: hook}
spec:
  type: bindings.testhttp
  metadata:
  - {name: url, value: "http://localhost"}
  - {name: token, secretKeyRef: {name: token}}
auth: {secretStore: files}
`)
	load := func(env map[string]string) (*Set, error) {
		return Load([]string{dir}, &Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	}

	set, err := load(map[string]string{"SECRETS_FILE": secrets})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := set.Get("hook"); c.Metadata["token"] != "s3cr3t-token" {
		t.Errorf("token = %q", c.Metadata["token"])
	}

	_, err = load(nil)
	want := filepath.Join(dir, "store.yaml") + `:8: metadata "secretsFile": envRef: environment variable "SECRETS_FILE" is not set`
	if err == nil || err.Error() != want {
		t.Errorf("unset envRef:\n%v\nwant\n%s", err, want)
	}

	// The path came from the environment: the error names the variable, not the path.
	_, err = load(map[string]string{"SECRETS_FILE": secrets + ".missing"})
	want = filepath.Join(dir, "store.yaml") + `:8: metadata "secretsFile": the path from environment variable "SECRETS_FILE" (envRef) does not exist`
	if err == nil || err.Error() != want {
		t.Errorf("missing file:\n%v\nwant\n%s", err, want)
	}
	assertNoSecret(t, "the error", err.Error())
}

// Unresolved loads an environment without its secrets (as tether deploy
// does): nothing is read from the environment or the stores, every
// reference is kept by name, and documents keep their text.
func TestLoadUnresolved(t *testing.T) {
	lookups := 0
	set, err := Load([]string{"testdata/valid", "testdata/extra"}, &Options{
		AppID: "shop", Unresolved: true,
		LookupEnv: func(string) (string, bool) { lookups++; return "", false },
	})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if lookups > 0 {
		t.Errorf("%d environment lookups; want none", lookups)
	}
	orders, _ := set.Get("orders")
	if got, want := orders.Refs["password"], (Ref{Secret: "redis:password", Key: "redis:password"}); got != want {
		t.Errorf("orders: password ref %+v, want %+v (refs %v)", got, want, orders.Refs)
	}
	if orders.Metadata["password"] != "" || !orders.SecretKeys["password"] {
		t.Errorf("orders: unresolved secret is %q, secret %v", orders.Metadata["password"], orders.SecretKeys["password"])
	}
	if !bytes.HasPrefix(orders.Source, []byte("# The order queue")) || !bytes.Contains(orders.Source, []byte("  name: orders\n")) {
		t.Errorf("orders: source starts %q", orders.Source[:min(80, len(orders.Source))])
	}
	failed, _ := set.Get("failed-orders")
	if got := failed.Refs["password"]; got != (Ref{Env: "QUEUE_PASSWORD"}) {
		t.Errorf("failed-orders: ref %+v, want envRef QUEUE_PASSWORD", got)
	}
	if bytes.HasPrefix(failed.Source, []byte("---")) || !bytes.Contains(failed.Source, []byte("name: failed-orders")) {
		t.Errorf("failed-orders: source %q", failed.Source)
	}
	k8s, _ := set.Get("k8s-queue")
	if got := k8s.Refs["password"]; got != (Ref{Secret: "db", Key: "password"}) {
		t.Errorf("k8s-queue: ref %+v", got)
	}
	st, ok := set.Store(k8s.SecretStore)
	if !ok || st.Type != StoreDirectory || st.Metadata["path"] == "" || !bytes.Contains(st.Source, []byte(StoreDirectory)) {
		t.Errorf("store %q: %+v, found %v", k8s.SecretStore, st, ok)
	}
	if _, ok := set.Store("vault"); ok {
		t.Error("a store Tether cannot read is listed")
	}
}

// A type's DeliveryDefaults replace the delivery keys' defaults for its
// components; a value written in the file still wins, and other types keep
// the common default.
func TestTypeDeliveryDefaults(t *testing.T) {
	for _, c := range []struct {
		name, typ, metadata string
		want                int
	}{
		{"type default", "bindings.testbatch", "  - name: schedule\n    value: '@every 1s'\n", 100},
		{"written value wins", "bindings.testbatch", "  - name: schedule\n    value: '@every 1s'\n  - name: batchSize\n    value: \"7\"\n", 7},
		{"common default", "bindings.testqueue", "  - name: queueName\n    value: q\n  - name: direction\n    value: input\n", bindings.DefaultDeliveryPolicy().BatchSize},
	} {
		t.Run(c.name, func(t *testing.T) {
			cs, err := Parse("c.yaml", []byte("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: in\nspec:\n  type: "+c.typ+"\n  version: v1\n  metadata:\n"+c.metadata))
			if err != nil {
				t.Fatal(err)
			}
			if got := cs[0].Delivery.BatchSize; got != c.want {
				t.Errorf("batchSize = %d, want %d", got, c.want)
			}
		})
	}
	typ, _ := bindings.Lookup("bindings.testbatch")
	keys := typ.DeliveryKeys()
	if k := keys[slices.IndexFunc(keys, func(k bindings.MetadataKey) bool { return k.Name == "batchSize" })]; k.Default != "100" {
		t.Errorf("DeliveryKeys shows batchSize's default as %q, want the type's 100", k.Default)
	}
}
