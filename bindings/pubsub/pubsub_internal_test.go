package pubsub

import (
	"encoding/json"
	"testing"

	"google.golang.org/api/option"

	"github.com/tetherfn/tether/bindings"
)

func TestEmulatorAddress(t *testing.T) {
	t.Setenv(emulatorEnv, "10.0.0.1:8085")
	for endpoint, want := range map[string]string{
		"":                      "10.0.0.1:8085", // the environment's
		"127.0.0.1:8085":        "127.0.0.1:8085",
		"http://localhost:8085": "localhost:8085", // as Dapr's examples write it
		" [::1]:8085 ":          "[::1]:8085",
	} {
		got, err := emulatorAddress(endpoint)
		if err != nil || got != want {
			t.Errorf("emulatorAddress(%q) = %q, %v; want %q", endpoint, got, err, want)
		}
	}
	for _, bad := range []string{"localhost", "http://localhost", "8085"} {
		if _, err := emulatorAddress(bad); err == nil {
			t.Errorf("emulatorAddress(%q) succeeded", bad)
		}
	}
}

// TestDaprServiceAccountFields: Dapr's binding keys are assembled into the
// service-account key JSON the client library reads.
func TestDaprServiceAccountFields(t *testing.T) {
	js, typ, err := credentials(bindings.NewMetadata(map[string]string{
		"project_id":     "p",
		"private_key_id": "kid",
		"private_key":    "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n",
		"client_email":   "svc@p.iam.gserviceaccount.com",
	}))
	if err != nil || typ != option.ServiceAccount {
		t.Fatalf("credentials = %v, %v; want a service account", typ, err)
	}
	var key map[string]string
	if err := json.Unmarshal(js, &key); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"type": "service_account", "project_id": "p", "private_key_id": "kid",
		"private_key":  "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n",
		"client_email": "svc@p.iam.gserviceaccount.com", "token_uri": "https://oauth2.googleapis.com/token",
	}
	for k, v := range want {
		if key[k] != v {
			t.Errorf("key JSON %q = %q, want %q", k, key[k], v)
		}
	}
	// credentialsJson wins, and its type is read from it.
	js, typ, err = credentials(bindings.NewMetadata(map[string]string{
		"credentialsJson": `{"type":"authorized_user","client_id":"c"}`,
		"client_email":    "ignored@example.com", "private_key": "ignored",
	}))
	if err != nil || typ != option.AuthorizedUser || string(js) != `{"type":"authorized_user","client_id":"c"}` {
		t.Errorf("credentials = %s, %v, %v; want the credentialsJson as it is, authorized_user", js, typ, err)
	}
	if js, _, err := credentials(bindings.NewMetadata(map[string]string{})); js != nil || err != nil {
		t.Errorf("no credentials = %s, %v; want none (Application Default Credentials)", js, err)
	}
}
