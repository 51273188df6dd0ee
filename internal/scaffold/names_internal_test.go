package scaffold

import (
	"testing"
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

func TestExportedName(t *testing.T) {
	for in, want := range map[string]string{"sqs": "Sqs", "local-storage": "LocalStorage", "postgresql": "Postgresql", "": "Output"} {
		if got := exportedName(in); got != want {
			t.Errorf("exportedName(%q) = %q, want %q", in, got, want)
		}
	}
}
