package main

import (
	"context"
	"os"
	"testing"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/image"
)

// TestEveryDriverHasAFile: each registered binding type's package has its
// driver_<package>.go, so the image with every driver links them all and
// tether build --sidecar --resources-path can select each by its tag.
func TestEveryDriverHasAFile(t *testing.T) {
	for _, typ := range bindings.Types() {
		pkg := image.DriverPackage(typ)
		if _, err := os.Stat("driver_" + pkg + ".go"); err != nil {
			t.Errorf("%s is registered by bindings/%s, which has no driver_%s.go here", typ.Name, pkg, pkg)
		}
	}
	if len(bindings.Types()) < 10 {
		t.Errorf("%d binding types registered; the driver files link them all", len(bindings.Types()))
	}
}

// TestRefusesByName: a daprd flag the sidecar does not implement is a
// usage error (status 2), as with tether sidecar.
func TestRefusesByName(t *testing.T) {
	for _, args := range [][]string{
		{"sidecar", "--config", "x.yaml"},
		{"--placement-host-address", "p:50005"},
		{"sidecar", "--no-such-flag"},
		{"sidecar", "stray"},
	} {
		if code := run(context.Background(), args); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}
