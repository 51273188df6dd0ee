package image_test

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/tetherfn/tether/internal/image"
)

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

// TestDriversFor reads the binding types of a components folder: each
// type's driver package, memory always, nothing for other kinds and
// types; a type no driver has is an error naming its file.
func TestDriversFor(t *testing.T) {
	dir := t.TempDir()
	write := func(name, doc string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	comp := func(name, typ string) string {
		return "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: " + name + "\nspec:\n  type: " + typ + "\n  version: v1\n"
	}
	write("a.yaml", comp("orders", "bindings.kafka")+"---\n"+comp("db", "bindings.postgres"))
	write("b.yml", comp("queue", "bindings.aws.sqs"))
	write("c.yaml", comp("secrets", "secretstores.local.file")+"---\n"+comp("ps", "pubsub.redis")+"---\napiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: c\n")
	got, err := image.DriversFor([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"kafka", "memory", "postgres", "sqs"}; !slices.Equal(got, want) {
		t.Errorf("DriversFor = %q, want %q", got, want)
	}
	write("d.yaml", comp("x", "bindings.nope"))
	if _, err := image.DriversFor([]string{dir}); err == nil || !strings.Contains(err.Error(), "d.yaml") || !strings.Contains(err.Error(), "bindings.nope") {
		t.Errorf("unknown type: %v, want an error naming d.yaml and bindings.nope", err)
	}
}
