package all_test

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/component"
)

// TestDaprDocumentationComponents loads component files written from the
// examples of Dapr's documentation (each file names its page): they load
// unchanged, deprecated keys and type aliases are read under their current
// names, keys Tether ignores are accepted with one warning each, an
// input-only Kafka component without a direction is an input, template
// values are expanded, and other building blocks are skipped with one info
// line each.
func TestDaprDocumentationComponents(t *testing.T) {
	var log bytes.Buffer
	env := map[string]string{"POD_NAME": "checkout-7d9f-abcde", "NAMESPACE": "shop"}
	set, err := component.Load([]string{"testdata/dapr"}, &component.Options{
		AppID:     "checkout-app",
		Logger:    slog.New(slog.NewTextHandler(&log, nil)),
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	get := func(name string) *component.Component {
		t.Helper()
		c, ok := set.Get(name)
		if !ok {
			t.Fatalf("component %q not loaded; log:\n%s", name, log.String())
		}
		return c
	}

	kafka := get("kafka-binding")
	if got := kafka.Metadata["authType"]; got != "password" {
		t.Errorf(`kafka-binding authType = %q, want "password" (authRequired true with a saslPassword)`, got)
	}
	if _, ok := kafka.Metadata["authRequired"]; ok {
		t.Error("kafka-binding still has authRequired after the upgrade to authType")
	}
	if got := kafka.Metadata["saslPassword"]; got != "s3cr3t-kafka" {
		t.Errorf("kafka-binding saslPassword not resolved from the local file store: %q", got)
	}
	for _, key := range []string{"schemaRegistryURL", "schemaRegistryAPIKey", "schemaRegistryAPISecret", "schemaCachingEnabled", "schemaLatestVersionCacheTTL"} {
		if _, ok := kafka.Metadata[key]; ok {
			t.Errorf("ignored key %s is passed to the driver", key)
		}
		if !strings.Contains(log.String(), `metadata \"`+key+`\": accepted and ignored`) {
			t.Errorf("no warning for ignored key %s; log:\n%s", key, log.String())
		}
	}

	checkout := get("checkout")
	if checkout.Direction != bindings.DirInput {
		t.Errorf("checkout (no direction, no publishTopic) direction = %s, want input", checkout.Direction)
	}
	if got := checkout.Metadata["consumerGroup"]; got != "checkout-7d9f-abcde" {
		t.Errorf("consumerGroup {podName} = %q, want the POD_NAME", got)
	}
	if got := checkout.Metadata["authType"]; got != "none" {
		t.Errorf(`checkout authType = %q, want "none" (authRequired false)`, got)
	}

	orders := get("orders-db")
	if orders.Binding.Name != "bindings.postgresql" {
		t.Errorf("bindings.postgres resolved to %s", orders.Binding.Name)
	}
	if !strings.HasPrefix(orders.Metadata["connectionString"], "user=postgres") {
		t.Errorf("url not read as connectionString: %q", orders.Metadata["connectionString"])
	}
	if !orders.SecretKeys["connectionString"] {
		t.Error("connectionString written as url is not treated as a secret")
	}
	audit := get("audit-db")
	if got := audit.Metadata["timeout"]; got != "30" {
		t.Errorf("timeoutInSeconds not read as timeout: %q", got)
	}
	if len(audit.Warnings) != 1 || !strings.Contains(audit.Warnings[0].Msg, "useAzureAD") || audit.Warnings[0].Line == 0 {
		t.Errorf("audit-db warnings = %v, want one for useAzureAD with its line", audit.Warnings)
	}

	if got := get("rabbit").Metadata["ttlInSeconds"]; got != "60" {
		t.Errorf("rabbitmq ttl not read as ttlInSeconds: %q", got)
	}
	ps := get("gcp-pubsub")
	for key, want := range map[string]string{"projectId": "project_111", "private_key_id": "*************", "client_email": "name@domain.com", "token_uri": "https://oauth2.googleapis.com/token"} {
		if got := ps.Metadata[key]; got != want {
			t.Errorf("gcp-pubsub %s = %q, want %q (from Dapr's camel-case alias)", key, got, want)
		}
	}

	for _, skipped := range []string{"name=pubsub", "name=statestore", "kind=Configuration", "kind=Resiliency", "kind=Subscription"} {
		if n := strings.Count(log.String(), skipped); n != 1 {
			t.Errorf("%s: %d log lines, want one info line; log:\n%s", skipped, n, log.String())
		}
	}
	if strings.Contains(log.String(), "s3cr3t") {
		t.Errorf("the log shows a secret:\n%s", log.String())
	}
}

// TestDaprTemplateValues: {uuid} differs per occurrence, {appID} and
// {namespace} expand as daprd does, and {podName} without POD_NAME is an
// error at its line.
func TestDaprTemplateValues(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/q.yaml", `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: q
spec:
  type: bindings.redis
  version: v1
  metadata:
  - name: redisHost
    value: localhost:6379
  - name: stream
    value: "{appID}-{namespace}"
  - name: consumerGroup
    value: "{uuid}"
  - name: consumerID
    value: "{uuid}/{uuid}"
`)
	env := map[string]string{"NAMESPACE": "prod"}
	set, err := component.Load([]string{dir}, &component.Options{AppID: "orders",
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := set.Get("q")
	if got := c.Metadata["stream"]; got != "orders-prod.orders" {
		t.Errorf("stream = %q, want orders-prod.orders", got)
	}
	ids := strings.Split(c.Metadata["consumerID"], "/")
	if len(c.Metadata["consumerGroup"]) != 36 || len(ids) != 2 || ids[0] == ids[1] || len(ids[0]) != 36 {
		t.Errorf("{uuid} expansion: group %q, id %q", c.Metadata["consumerGroup"], c.Metadata["consumerID"])
	}

	writeFile(t, dir+"/q.yaml", strings.Replace(readFile(t, dir+"/q.yaml"), "{uuid}\"\n  - name: consumerID", "{podName}\"\n  - name: consumerID", 1))
	_, err = component.Load([]string{dir}, &component.Options{AppID: "orders",
		LookupEnv: func(string) (string, bool) { return "", false }})
	if err == nil || !strings.Contains(err.Error(), "q.yaml:14:") || !strings.Contains(err.Error(), "POD_NAME") {
		t.Errorf("{podName} without POD_NAME: err = %v, want q.yaml:14 naming POD_NAME", err)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
