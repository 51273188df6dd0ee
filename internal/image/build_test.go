// The image builds run without the race detector: most of their time is
// the layer's gzip at BestCompression, which -race slows about tenfold
// (internal/image took some 500 s of CI's race step), while the package
// starts no goroutine of its own for the detector to check. .ci/run runs
// them in its step without -race; TestBadOptions and TestDriversFor, which
// build nothing, run in both.

//go:build !race

package image_test

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/tetherfn/tether/internal/image"
)

// newRegistry serves the OCI distribution protocol on loopback, with
// go-containerregistry's registry, and returns its host:port.
func newRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func build(t *testing.T, o image.Options) image.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if o.Dir == "" {
		o.Dir = hello
	}
	o.Log = testWriter{t}
	res, err := image.Build(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 {
		t.Fatalf("built %d images, want 1", len(res.Images))
	}
	return res
}

// TestPush pushes hello's image to a registry and reads it back: what is
// pushed is what Build described, and its config runs the function as
// the non-root user with the components mounted.
func TestPush(t *testing.T) {
	reg := newRegistry(t)
	res := build(t, image.Options{Repository: reg + "/shop", Push: true})
	got := res.Images[0]
	if got.Reference != reg+"/shop/greet@"+got.Digest || got.Tag != reg+"/shop/greet:latest" {
		t.Errorf("reference %s, tag %s", got.Reference, got.Tag)
	}

	ref, err := name.ParseReference(got.Tag)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	if d, _ := img.Digest(); d.String() != got.Digest {
		t.Errorf("registry has %s, Build said %s", d, got.Digest)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" || strings.Join(c.Entrypoint, " ") != "/function" || len(c.Cmd) != 0 {
		t.Errorf("user %q, entrypoint %q, cmd %q", c.User, c.Entrypoint, c.Cmd)
	}
	if len(c.ExposedPorts) != 0 {
		t.Errorf("exposed ports %v, want none: a queue-triggered function serves nothing public", c.ExposedPorts)
	}
	if strings.Join(c.Env, " ") != "TETHER_COMPONENTS=/components" {
		t.Errorf("env %q", c.Env)
	}
	want := map[string]string{
		image.LabelFunction:    "greet",
		image.LabelTrigger:     "names",
		image.LabelTriggerType: "bindings.memory",
		image.LabelOutputs:     "greetings",
	}
	for k, v := range want {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	// Built in a git checkout, the commit and the repository are stamped.
	// (The go command finds a .git folder only: in a git worktree, where
	// .git is a file, it stamps nothing.)
	if fi, err := os.Stat("../../.git"); err == nil && fi.IsDir() {
		head, err := exec.Command("git", "-C", hello, "rev-parse", "HEAD").Output()
		if err != nil {
			t.Fatal(err)
		}
		if c.Labels[image.LabelRevision] != strings.TrimSpace(string(head)) || c.Labels[image.LabelSource] != "https://github.com/tetherfn/tether" {
			t.Errorf("source %q, revision %q; want https://github.com/tetherfn/tether at %s", c.Labels[image.LabelSource], c.Labels[image.LabelRevision], head)
		}
	}
	if cf.OS != "linux" || cf.Architecture == "" || !cf.Created.Time.Equal(time.Unix(0, 0)) {
		t.Errorf("os %s, arch %s, created %s", cf.OS, cf.Architecture, cf.Created.Time)
	}

	// One layer: the binary, executable, and the CA roots.
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers (%v), want 1", len(layers), err)
	}
	files := layerFiles(t, layers[0])
	if h := files["function"]; h == nil || h.Mode&0o111 == 0 || h.Size < 1e6 {
		t.Errorf("/function: %+v", h)
	}
	if h := files["etc/ssl/certs/ca-certificates.crt"]; h == nil || h.Size == 0 {
		t.Errorf("CA roots: %+v", h)
	}
	for n, h := range files {
		if !h.ModTime.Equal(time.Unix(0, 0)) || h.Uname != "" {
			t.Errorf("%s: mtime %s, owner %q: not reproducible", n, h.ModTime, h.Uname)
		}
	}
	size, _ := layers[0].Size()
	if got.Size < size || got.Uncompressed < files["function"].Size {
		t.Errorf("size %d, uncompressed %d; layer is %d", got.Size, got.Uncompressed, size)
	}
}

// TestWebhookExposesPublicPort: a function triggered by a webhook exposes
// the runtime's public port, and its labels name the trigger's type and
// every output.
func TestWebhookExposesPublicPort(t *testing.T) {
	dir := t.TempDir()
	got := build(t, image.Options{Dir: "../../examples/sms-reply", OCILayout: dir}).Images[0]
	want := map[string]string{
		image.LabelFunction:    "sms-reply",
		image.LabelTrigger:     "inbound-sms",
		image.LabelTriggerType: "bindings.http",
		image.LabelOutputs:     "sms",
	}
	for k, v := range want {
		if got.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, got.Labels[k], v)
		}
	}
	cf := layoutConfig(t, dir, got.Digest)
	if _, ok := cf.Config.ExposedPorts["8080/tcp"]; !ok || len(cf.Config.ExposedPorts) != 1 {
		t.Errorf("exposed ports %v, want 8080/tcp only", cf.Config.ExposedPorts)
	}
}

// layoutConfig reads the config of the image with digest in the OCI layout
// at dir.
func layoutConfig(t *testing.T, dir, digest string) *v1.ConfigFile {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := v1.NewHash(digest)
	if err != nil {
		t.Fatal(err)
	}
	img, err := p.Image(h)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cf
}

// TestReproducible builds twice and gets the same digest; another
// SOURCE_DATE_EPOCH gives another.
func TestReproducible(t *testing.T) {
	a := build(t, image.Options{OCILayout: t.TempDir()}).Images[0]
	b := build(t, image.Options{OCILayout: t.TempDir()}).Images[0]
	if a.Digest != b.Digest {
		t.Errorf("two builds of the same source: %s and %s", a.Digest, b.Digest)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	dir := t.TempDir()
	c := build(t, image.Options{OCILayout: dir}).Images[0]
	if c.Digest == a.Digest {
		t.Errorf("SOURCE_DATE_EPOCH changed nothing: %s", c.Digest)
	}
	// The layout holds it, under its tag.
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || m.Manifests[0].Digest.String() != c.Digest || m.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "tether/greet:latest" {
		t.Fatalf("layout index: %+v", m.Manifests)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	if cf.Created.Unix() != 1700000000 {
		t.Errorf("created %s, want SOURCE_DATE_EPOCH", cf.Created.Time)
	}
}

// TestIndex builds for two platforms: an image index whose manifests run
// on each.
func TestIndex(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles hello for arm64 (minutes when cold)")
	}
	reg := newRegistry(t)
	got := build(t, image.Options{Repository: reg + "/multi", Push: true, Platforms: []string{"linux/amd64", "linux/arm64"}}).Images[0]
	if got.MediaType != "application/vnd.oci.image.index.v1+json" || len(got.Platforms) != 2 {
		t.Fatalf("%s with %d platforms, want an index of 2", got.MediaType, len(got.Platforms))
	}
	ref, err := name.ParseReference(got.Reference)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatalf("pull index %s: %v", ref, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for i, arch := range []string{"amd64", "arm64"} {
		d := m.Manifests[i]
		if d.Platform == nil || d.Platform.Architecture != arch || d.Digest.String() != got.Platforms[i].Digest {
			t.Errorf("manifest %d: %+v, want %s (%s)", i, d.Platform, arch, got.Platforms[i].Digest)
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		if cf.Architecture != arch {
			t.Errorf("image for %s has config for %s", arch, cf.Architecture)
		}
		files := layerFiles(t, mustLayer(t, img))
		if files["function"] == nil {
			t.Errorf("%s: no /function", arch)
		}
	}
	if got.Platforms[0].Digest == got.Platforms[1].Digest {
		t.Error("amd64 and arm64 images are the same")
	}
}

func mustLayer(t *testing.T, img v1.Image) v1.Layer {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers (%v), want 1", len(layers), err)
	}
	return layers[0]
}

// layerFiles lists the tar headers of a layer by name (no trailing slash).
func layerFiles(t *testing.T, l v1.Layer) map[string]*tar.Header {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(h.Name, "/")] = h
	}
}

// testWriter sends Build's progress to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestSidecarImage builds the sidecar image with the memory driver alone
// (the quickest build) into a docker load tarball and reads it back: one
// layer with the binary at /tether, run as tether sidecar with the
// components at /components, by the non-root user, labelled with its
// drivers.
func TestSidecarImage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	out := filepath.Join(t.TempDir(), "sidecar.tar")
	res, err := image.BuildSidecar(ctx, image.SidecarOptions{
		Options: image.Options{Dir: ".", Tarball: out, Log: testWriter{t}},
		Drivers: []string{"memory"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := res.Images[0]
	if got.Function != "sidecar" || got.Tag != "tether/sidecar:latest" || got.Size <= 0 || got.Uncompressed <= got.Size {
		t.Errorf("image %+v", got)
	}
	img, err := tarball.ImageFromPath(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if strings.Join(c.Entrypoint, " ") != "/tether sidecar --resources-path /components" || c.User != "65532:65532" {
		t.Errorf("entrypoint %q, user %q", c.Entrypoint, c.User)
	}
	if c.Labels[image.LabelSidecarDrivers] != "memory" {
		t.Errorf("labels %v", c.Labels)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers, %v; want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var files []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, h.Name)
	}
	if !slices.Contains(files, "tether") || !slices.Contains(files, "etc/ssl/certs/ca-certificates.crt") {
		t.Errorf("layer holds %q", files)
	}
}
