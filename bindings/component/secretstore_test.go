package component

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeJSON(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secrets.json")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFileStoreFlattens(t *testing.T) {
	file := writeJSON(t, `{
		"redis": {"password": "p", "hosts": ["a", "b"]},
		"port": 6380, "big": 12345678901234567890, "tls": true, "none": null,
		"plain": "v"
	}`)
	s, kerr := openFileStore(map[string]string{"secretsFile": file, "nestedSeparator": ":", "multiValued": "false"}, &storeEnv{})
	if kerr != nil {
		t.Fatal(kerr)
	}
	for _, tc := range []struct{ name, key, want string }{
		{"redis:password", "", "p"},
		{"redis:password", "redis:password", "p"}, // Dapr's key defaults to the name
		{"redis:hosts:1", "", "b"},
		{"port", "", "6380"},
		{"big", "", "12345678901234567890"}, // as written, not through float64
		{"tls", "", "true"},
		{"none", "", ""},
		{"plain", "", "v"},
	} {
		got, err := s.get(tc.name, tc.key)
		if err != nil || got != tc.want {
			t.Errorf("get(%q, %q) = %q, %v; want %q", tc.name, tc.key, got, err, tc.want)
		}
	}
	if _, err := s.get("redis", ""); err == nil || !strings.Contains(err.Error(), `no secret "redis"`) {
		t.Errorf("a nested object is not a secret of its own when not multiValued: %v", err)
	}
	if _, err := s.get("plain", "other"); err == nil || err.Error() != `secret "plain" has no key "other"` {
		t.Errorf("wrong key: %v", err)
	}
}

func TestFileStoreMultiValued(t *testing.T) {
	file := writeJSON(t, `{"db": {"user": "u", "tls": {"ca": "c"}}, "token": "t"}`)
	s, kerr := openFileStore(map[string]string{"secretsFile": file, "nestedSeparator": "/", "multiValued": "true"}, &storeEnv{})
	if kerr != nil {
		t.Fatal(kerr)
	}
	for _, tc := range []struct{ name, key, want string }{
		{"db", "user", "u"},
		{"db", "tls/ca", "c"},
		{"token", "", "t"},
	} {
		got, err := s.get(tc.name, tc.key)
		if err != nil || got != tc.want {
			t.Errorf("get(%q, %q) = %q, %v; want %q", tc.name, tc.key, got, err, tc.want)
		}
	}
	if _, err := s.get("db", ""); err == nil {
		t.Error(`get("db", "") found a key named "db"`)
	}
}

func TestFileStoreRejects(t *testing.T) {
	for _, tc := range []struct{ content, want string }{
		{`["s3cr3t"]`, "must hold a JSON object"},
		{`{"a": "s3cr3t"} {"b": 1}`, "is not valid JSON"},
		{"{\n\"a\": \"s3cr3t\",\n}", "is not valid JSON (line 3)"},
		{`{"a:b": "s3cr3t", "a": {"b": "s3cr3t-too"}}`, `two values flatten to the same secret name "a:b"`},
	} {
		_, kerr := openFileStore(map[string]string{"secretsFile": writeJSON(t, tc.content), "nestedSeparator": ":", "multiValued": "false"}, &storeEnv{})
		if kerr == nil || kerr.Msg != tc.want {
			t.Errorf("%s: got %v, want %q", tc.content, kerr, tc.want)
		}
		if kerr != nil {
			assertNoSecret(t, "the error", kerr.Error())
		}
	}
	_, kerr := openFileStore(map[string]string{"secretsFile": t.TempDir()}, &storeEnv{})
	if kerr == nil || kerr.Msg != "is not a regular file" {
		t.Errorf("a folder as secretsFile: %v", kerr)
	}
}

func TestEnvStore(t *testing.T) {
	s := &envStore{prefix: "APP_", lookupEnv: lookupTestEnv}
	if v, err := s.get("TOKEN", ""); err != nil || v != "s3cr3t-prefixed-token" {
		t.Errorf("get(TOKEN) = %q, %v", v, err)
	}
	if v, err := s.get("TOKEN", "TOKEN"); err != nil || v != "s3cr3t-prefixed-token" {
		t.Errorf("get(TOKEN, TOKEN) = %q, %v", v, err)
	}
	if _, err := s.get("TOKEN", "other"); err == nil {
		t.Error("an env secret has one key, named like it; another key was accepted")
	}
	if _, err := s.get("MISSING", ""); err == nil || err.Error() != `environment variable "APP_MISSING" is not set` {
		t.Errorf("unset: %v", err)
	}
	plain := &envStore{lookupEnv: func(string) (string, bool) { return "s3cr3t-token", true }}
	for _, name := range []string{"APP_API_TOKEN", "DAPR_API_TOKEN", "dapr_http_port", "TETHER_API_TOKEN", "tether_app_token"} {
		if _, err := plain.get(name, ""); err == nil || !strings.Contains(err.Error(), "is reserved") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDirectoryStore(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "db"), 0o755)
	os.WriteFile(filepath.Join(root, "db", "password"), []byte("s3cr3t\n"), 0o600)
	os.WriteFile(filepath.Join(root, "token"), []byte("t"), 0o600)
	os.WriteFile(filepath.Join(filepath.Dir(root), "outside"), []byte("s3cr3t"), 0o600)

	s, kerr := openDirectoryStore(map[string]string{"path": root}, &storeEnv{})
	if kerr != nil {
		t.Fatal(kerr)
	}
	if v, err := s.get("db", "password"); err != nil || v != "s3cr3t\n" {
		t.Errorf("get(db, password) = %q, %v; want the file byte for byte", v, err)
	}
	if v, err := s.get("token", ""); err != nil || v != "t" {
		t.Errorf("get(token) = %q, %v", v, err)
	}
	if _, err := s.get("db", ""); err == nil || !strings.HasSuffix(err.Error(), "is not a regular file") {
		t.Errorf("a secret folder read as a file: %v", err)
	}
	for _, tc := range [][2]string{{"..", "outside"}, {"../" + filepath.Base(root), "token"}, {"db", "../token"}, {"db", ".."}, {"", "x"}} {
		if _, err := s.get(tc[0], tc[1]); err == nil || !strings.Contains(err.Error(), "is not a plain file name") {
			t.Errorf("get(%q, %q) escaped the folder: %v", tc[0], tc[1], err)
		}
	}
	if _, kerr := openDirectoryStore(map[string]string{"path": filepath.Join(root, "token")}, &storeEnv{}); kerr == nil || kerr.Msg != "is not a folder" {
		t.Errorf("a file as path: %v", kerr)
	}
}

func TestStoreRelativePaths(t *testing.T) {
	// Relative to the working directory first (Dapr), else to the component file.
	if got := resolvePath("testdata/valid/secrets.json", "elsewhere/c.yaml"); got != "testdata/valid/secrets.json" {
		t.Errorf("from the working directory: %q", got)
	}
	if got := resolvePath("secrets.json", "testdata/valid/stores.yaml"); got != filepath.Join("testdata", "valid", "secrets.json") {
		t.Errorf("from the component file: %q", got)
	}
	if got := resolvePath("nowhere.json", "testdata/valid/stores.yaml"); got != "nowhere.json" {
		t.Errorf("found nowhere: %q, want it as written", got)
	}
}
