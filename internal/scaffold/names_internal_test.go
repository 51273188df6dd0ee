package scaffold

import (
	"testing"

	"github.com/tetherfn/tether/bindings"
	_ "github.com/tetherfn/tether/bindings/all"
)

func TestUpperSnake(t *testing.T) {
	for in, want := range map[string]string{
		"natsURL":      "NATS_URL",
		"accessKey":    "ACCESS_KEY",
		"MTLSRootCA":   "MTLS_ROOT_CA",
		"orders-in":    "ORDERS_IN",
		"oidcClientID": "OIDC_CLIENT_ID",
		"a.b_c":        "A_B_C",
		"key2Value":    "KEY2_VALUE",
	} {
		if got := upperSnake(in); got != want {
			t.Errorf("upperSnake(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDriverPackage(t *testing.T) {
	for name, want := range map[string]string{
		"bindings.memory":  "github.com/tetherfn/tether/bindings/memory",
		"bindings.nats":    "github.com/tetherfn/tether/bindings/nats",
		"bindings.aws.sqs": "github.com/tetherfn/tether/bindings/sqs",
	} {
		typ, ok := bindings.Lookup(name)
		if !ok {
			t.Errorf("%s is not registered", name)
			continue
		}
		if got := driverPackage(typ); got != want {
			t.Errorf("driverPackage(%s) = %q, want %q", name, got, want)
		}
	}
}

func TestExportedName(t *testing.T) {
	for in, want := range map[string]string{"sqs": "Sqs", "local-storage": "LocalStorage", "postgresql": "Postgresql", "": "Output"} {
		if got := exportedName(in); got != want {
			t.Errorf("exportedName(%q) = %q, want %q", in, got, want)
		}
	}
}
