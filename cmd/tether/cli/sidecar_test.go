package cli_test

import (
	"strings"
	"testing"
)

// TestSidecarRefusesWhatItDoesNotDo: daprd flags tether sidecar does not
// implement are refused by name with the reason, never ignored; the API
// does not leave loopback without a token.
func TestSidecarRefusesWhatItDoesNotDo(t *testing.T) {
	t.Setenv("DAPR_API_TOKEN", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--metrics-port", "9090"}, "--metrics-port is not supported: metrics are served on the API port"},
		{[]string{"--config", "./config.yaml"}, "--config is not supported"},
		{[]string{"--enable-mtls"}, "--enable-mtls is not supported"},
		{[]string{"--app-protocol", "https"}, `--app-protocol "https"`},
		{[]string{"--mode", "kubernetes"}, `--mode "kubernetes"`},
		{[]string{"--dapr-listen-addresses", "0.0.0.0"}, "loopback-only unless DAPR_API_TOKEN is set"},
		{[]string{"--no-such-flag"}, "unknown flag: --no-such-flag"},
	} {
		code, _, stderr := run(t, t.TempDir(), append([]string{"sidecar"}, c.args...)...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("sidecar %v: exit %d, stderr %q; want a failure saying %q", c.args, code, stderr, c.want)
		}
	}
}
