package component

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/tetherfn/tether/bindings/memory"
)

// urlPassword holds every character that breaks naive URL handling.
const urlPassword = "pw/?#%@:s3cr3t"

func writeComponents(t *testing.T, yaml string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A URL's password in a value that is not declared secret is still a
// secret: hidden by Redacted, listed by Secrets, handed to the binding.
func TestURLPasswordInAnyValueIsSecret(t *testing.T) {
	dir := writeComponents(t, `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: q
spec:
  type: bindings.memory
  version: v1
  metadata:
  - name: queue
    value: "amqp://guest:`+urlPassword+`@127.0.0.1:5672/q"
  - name: maxAttempts
    envRef: ATTEMPTS
`)
	set, err := Load([]string{dir}, &Options{LookupEnv: func(k string) (string, bool) { return "7", k == "ATTEMPTS" }})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := set.Get("q")
	if got := c.Redacted()["queue"]; got != "amqp://guest:***@127.0.0.1:5672/q" {
		t.Errorf("Redacted queue = %q", got)
	}
	if !containsAll(c.Secrets(), urlPassword) || !containsAll(set.Secrets(), urlPassword) || !containsAll(c.Config(nil).Secrets, urlPassword) {
		t.Errorf("Secrets %q, Set.Secrets %q: the URL's password is missing", c.Secrets(), set.Secrets())
	}
	// A value resolved from envRef is secret, however short or plain.
	if got := c.Redacted()["maxAttempts"]; got != "***" {
		t.Errorf("Redacted maxAttempts = %q", got)
	}
}

func containsAll(list []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, s := range list {
			found = found || s == w
		}
		if !found {
			return false
		}
	}
	return true
}

// A diagnostic about a value never quotes the password of a URL in it.
func TestDiagnosticsHideURLPasswords(t *testing.T) {
	dir := writeComponents(t, `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: q
spec:
  type: bindings.memory
  version: v1
  metadata:
  - name: maxAttempts
    value: "redis://:`+urlPassword+`@127.0.0.1:6379"
`)
	_, err := Load([]string{dir}, nil)
	if err == nil {
		t.Fatal("a URL as maxAttempts was accepted")
	}
	if strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "***") {
		t.Errorf("diagnostic: %v", err)
	}
	if _, err := Parse("c.yaml", []byte(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: q}
spec:
  type: bindings.memory
  metadata:
  - {name: maxAttempts, value: "redis://:`+urlPassword+`@127.0.0.1:6379"}
`)); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("Parse diagnostic: %v", err)
	}
}

// A component file over MaxFileSize is one clear, file-scoped problem, read
// no further.
func TestFileSizeCap(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	header := "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: big\nspec:\n  type: bindings.memory\n# "
	if err := os.WriteFile(big, []byte(header+strings.Repeat("x", MaxFileSize)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load([]string{dir}, nil)
	var diags Diagnostics
	if !errors.As(err, &diags) || len(diags) != 1 {
		t.Fatalf("Load: %v", err)
	}
	want := big + ": is larger than 1048576 bytes (component files are limited to 1 MiB: split the components over several files)"
	if diags[0].Error() != want {
		t.Errorf("got  %s\nwant %s", diags[0].Error(), want)
	}
	data, _ := os.ReadFile(big)
	if _, err := Parse("big.yaml", data); err == nil || !strings.HasPrefix(err.Error(), "big.yaml: is larger than 1048576 bytes") {
		t.Errorf("Parse: %v", err)
	}
	// Exactly at the cap is fine.
	ok := header + strings.Repeat("x", MaxFileSize-len(header)-1) + "\n"
	if _, err := Parse("ok.yaml", []byte(ok)); err != nil {
		t.Errorf("a file of exactly MaxFileSize: %v", err)
	}
}
