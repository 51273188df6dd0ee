package main

import (
	"context"
	"os"
	"path"
	"testing"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/gen"
)

// TestEveryDriverHasAFile: each registered binding type's driver package
// (gen.DriverPackage, the table generated mains use) has its
// driver_<package>.go, so the image with every driver links them all and
// tether build --sidecar --resources-path can select each by its tag.
func TestEveryDriverHasAFile(t *testing.T) {
	for _, typ := range bindings.Types() {
		for _, name := range append([]string{typ.Name}, typ.Aliases...) {
			pkg, ok := gen.DriverPackage(name)
			if !ok {
				t.Errorf("%s is registered but gen.DriverPackage does not know it", name)
				continue
			}
			if _, err := os.Stat("driver_" + path.Base(pkg) + ".go"); err != nil {
				t.Errorf("%s is registered by %s, which has no driver_%s.go here", name, pkg, path.Base(pkg))
			}
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
