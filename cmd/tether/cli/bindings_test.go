package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tetherfn/tether/bindings"
)

func TestBindingsListsEveryType(t *testing.T) {
	code, stdout, stderr := execCLI(t, t.TempDir(), "bindings")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, typ := range bindings.Types() {
		if !strings.Contains(stdout, typ.Name+" ") {
			t.Errorf("bindings does not list %s:\n%s", typ.Name, stdout)
		}
	}
	code, stdout, _ = execCLI(t, t.TempDir(), "bindings", "--direction", "output", "-o", "json")
	var list []struct {
		Name       string   `json:"name"`
		Directions []string `json:"directions"`
	}
	if err := json.Unmarshal([]byte(stdout), &list); code != 0 || err != nil || len(list) == 0 {
		t.Fatalf("json list: exit %d, %v:\n%s", code, err, stdout)
	}
	for _, v := range list {
		if !strings.Contains(strings.Join(v.Directions, ","), "output") {
			t.Errorf("--direction output lists %s (%v)", v.Name, v.Directions)
		}
	}
}

func TestBindingsDescribesAType(t *testing.T) {
	code, stdout, stderr := execCLI(t, t.TempDir(), "bindings", "nats")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"bindings.nats v1: ", "operations:    create\n",
		"  natsURL  string, required, secret", "  ackWait  duration, default 30s, input only\n",
		"Delivery keys", "  maxAttempts  int, default 5\n", "Metadata of each input message:",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("bindings nats lacks %q:\n%s", want, stdout)
		}
	}

	code, stdout, _ = execCLI(t, t.TempDir(), "bindings", "bindings.memory", "--output", "json")
	var v struct {
		Name     string `json:"name"`
		Metadata []struct {
			Name, Kind, Default string
			Directions          []string
		} `json:"metadata"`
		Operations   []string                `json:"operations"`
		DeliveryKeys []struct{ Name string } `json:"deliveryKeys"`
	}
	if err := json.Unmarshal([]byte(stdout), &v); code != 0 || err != nil {
		t.Fatalf("json: exit %d, %v:\n%s", code, err, stdout)
	}
	if v.Name != "bindings.memory" || len(v.Metadata) != 2 || v.Metadata[1].Name != "maxLength" || v.Metadata[1].Default != "0" ||
		strings.Join(v.Metadata[1].Directions, ",") != "output" || strings.Join(v.Operations, ",") != "create,get,list,delete" || len(v.DeliveryKeys) != len(bindings.DeliveryKeys) {
		t.Errorf("json = %+v", v)
	}

	code, _, stderr = execCLI(t, t.TempDir(), "bindings", "natz")
	if code != 1 || !strings.Contains(stderr, `unknown binding type "natz"; did you mean "bindings.nats"?`) {
		t.Errorf("an unknown type: exit %d, %q", code, stderr)
	}
}
