package image

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"go.yaml.in/yaml/v3"

	"github.com/tetherfn/tether/internal/gen"
)

// The sidecar image (BuildSidecar): tether sidecar alone, for an app in any
// language, in place of daprd.
const (
	// SidecarPackage is the main package built into it: the runtime and
	// the binding drivers, nothing of the CLI.
	SidecarPackage = "github.com/tetherfn/tether/cmd/tether-sidecar"
	// LabelSidecarDrivers names the binding drivers it links,
	// comma-separated, or "all".
	LabelSidecarDrivers = "dev.tether.sidecar.drivers"
	// sidecarTags are always set: gRPC's debug tracing pages pull in
	// html/template, whose reflection keeps every exported method of every
	// type in the binary (about a quarter of it).
	sidecarTags = "grpcnotrace"
)

// SidecarEntrypoint runs the sidecar binary, at /tether, as
// "tether sidecar" with the components mounted at ComponentsDir; docker run
// arguments add daprd's flags.
var SidecarEntrypoint = []string{"/tether", "sidecar", "--resources-path", ComponentsDir}

// SidecarOptions say what sidecar image to build and where to put it.
type SidecarOptions struct {
	// Options: Dir is a folder of a Go module that requires
	// github.com/tetherfn/tether (or Tether's own checkout), where the
	// sidecar is compiled; Functions and Env are not used. The image is
	// named <Repository>/sidecar:<Tag>.
	Options
	// Drivers, when set, are the only binding drivers linked, by package
	// name under bindings/ (kafka, postgres...: see DriversFor); nil links
	// every driver.
	Drivers []string
}

// BuildSidecar builds the tether sidecar image: its binary (SidecarPackage,
// static, stripped) and the host's CA roots in one layer on scratch (or
// Options.Base), run as the non-root user 65532 with SidecarEntrypoint.
// The same source gives the same digest, as for functions.
func BuildSidecar(ctx context.Context, o SidecarOptions) (Result, error) {
	b, err := newBuilder(o.Options)
	if err != nil {
		return Result{}, err
	}
	b.sidecar = true
	tags, drivers := sidecarTags, "all"
	if o.Drivers != nil {
		ds := slices.Sorted(slices.Values(o.Drivers))
		ds = slices.Compact(ds)
		tags += ",tether_drivers"
		for _, d := range ds {
			tags += ",tether_" + d
		}
		drivers = strings.Join(ds, ",")
	}
	roots, err := caRoots()
	if err != nil {
		return Result{}, err
	}
	bases, err := b.bases(ctx)
	if err != nil {
		return Result{}, err
	}
	tmp, err := os.MkdirTemp("", "tether-sidecar-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(tmp)
	labels := map[string]string{LabelSidecarDrivers: drivers}
	var plats []v1.Image
	for i, p := range b.platforms {
		bin := filepath.Join(tmp, "tether-"+strings.ReplaceAll(p.String(), "/", "-"))
		if err := b.goBuildPackage(ctx, b.dir, SidecarPackage, tags, p, bin); err != nil {
			return Result{}, err
		}
		if i == 0 {
			vcsLabels(bin, labels)
		}
		img, err := b.image(bases[i], p, bin, roots, labels)
		if err != nil {
			return Result{}, fmt.Errorf("sidecar image for %s: %w", p.String(), err)
		}
		plats = append(plats, img)
	}
	out, idx, err := b.describe("sidecar", plats, labels)
	if err != nil {
		return Result{}, err
	}
	if err := b.publish(ctx, []Image{out}, plats[:1], []v1.ImageIndex{idx}); err != nil {
		return Result{}, err
	}
	return Result{Images: []Image{out}}, nil
}

// DriversFor returns the binding drivers (package names under bindings/)
// that the components in folders use, for SidecarOptions.Drivers: every
// bindings.* type of every Component in their YAML files, looked up in the
// table the generated mains use (gen.DriverPackage). Other kinds
// and types (secret stores, pub/sub...) need no driver. A type no driver
// registers is an error naming its file.
func DriversFor(folders []string) ([]string, error) {
	var drivers []string
	for _, dir := range folders {
		files, err := filepath.Glob(filepath.Join(dir, "*.y*ml"))
		if err != nil {
			return nil, err
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%s is not a folder of component files", dir)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			dec := yaml.NewDecoder(bytes.NewReader(data))
			for {
				var doc struct {
					Kind string `yaml:"kind"`
					Spec struct {
						Type string `yaml:"type"`
					} `yaml:"spec"`
				}
				if err := dec.Decode(&doc); err != nil {
					break // the end, or a file tether sidecar will report at start-up
				}
				if doc.Kind != "Component" || !strings.HasPrefix(doc.Spec.Type, "bindings.") {
					continue
				}
				pkg, ok := gen.DriverPackage(doc.Spec.Type)
				if !ok {
					return nil, fmt.Errorf("%s: no binding driver has type %s", f, doc.Spec.Type)
				}
				drivers = append(drivers, path.Base(pkg))
			}
		}
	}
	// The memory binding costs nothing and serves tests and tether send.
	drivers = append(drivers, "memory")
	slices.Sort(drivers)
	return slices.Compact(drivers), nil
}
