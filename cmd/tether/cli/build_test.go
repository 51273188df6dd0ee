package cli_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// TestBuild builds the repository's examples/hello into an OCI layout and
// prints, as JSON, what is in it.
func TestBuild(t *testing.T) {
	out := filepath.Join(t.TempDir(), "oci")
	code, stdout, stderr := execCLI(t, filepath.Join("..", "..", "..", "examples", "hello"), "build", "--oci-layout", out, "--output", "json")
	if code != 0 {
		t.Fatalf("tether build: exit %d\n%s", code, stderr)
	}
	var imgs []struct {
		Function, Digest, Reference string
		Size, Uncompressed          int64
	}
	if err := json.Unmarshal([]byte(stdout), &imgs); err != nil {
		t.Fatalf("--output json: %v\n%s", err, stdout)
	}
	if len(imgs) != 1 || imgs[0].Function != "greet" || imgs[0].Reference != "tether/greet@"+imgs[0].Digest || imgs[0].Size <= 0 || imgs[0].Uncompressed <= imgs[0].Size {
		t.Fatalf("printed %+v", imgs)
	}
	p, err := layout.FromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := p.ImageIndex()
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != 1 || m.Manifests[0].Digest.String() != imgs[0].Digest {
		t.Fatalf("layout holds %+v (%v), want %s", m, err, imgs[0].Digest)
	}
}

func TestBuildRefusesBadFlags(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "examples", "hello")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"build", "--output", "yaml"}, `--output "yaml": want text or json`},
		{[]string{"build", "a", "b"}, "want at most one folder"},
		{[]string{"build", "--function", "nope"}, `function "nope"`},
		{[]string{"build", "--tarball", "x.tar", "--platform", "linux/amd64,linux/arm64"}, "a tarball holds one platform"},
	} {
		code, _, stderr := execCLI(t, dir, tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("tether %s: exit %d, stderr %q, want %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
}
