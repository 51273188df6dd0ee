package image

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tetherfn/tether/internal/gen"
)

// builder holds one Build's validated options.
type builder struct {
	opts      Options
	dir       string // absolute
	platforms []v1.Platform
	epoch     time.Time
	log       io.Writer
	sidecar   bool // BuildSidecar
}

func newBuilder(o Options) (*builder, error) {
	b := &builder{opts: o, log: o.Log}
	if b.log == nil {
		b.log = io.Discard
	}
	if o.Dir == "" {
		o.Dir = "."
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a folder", o.Dir)
	}
	b.dir = dir
	if b.opts.Env == "" {
		b.opts.Env = "prod"
	}
	if b.opts.Repository == "" {
		b.opts.Repository = "tether"
	}
	if b.opts.Tag == "" {
		b.opts.Tag = "latest"
	}
	plats := o.Platforms
	if len(plats) == 0 {
		plats = []string{"linux/" + runtime.GOARCH}
	}
	seen := map[string]bool{}
	for _, s := range plats {
		p, err := v1.ParsePlatform(s)
		if err != nil || p.OS == "" || p.Architecture == "" {
			return nil, fmt.Errorf("platform %q: want os/arch[/variant], e.g. linux/amd64", s)
		}
		if p.OS != "linux" {
			return nil, fmt.Errorf("platform %q: functions run on linux only", s)
		}
		if seen[p.String()] {
			continue
		}
		seen[p.String()] = true
		b.platforms = append(b.platforms, *p)
	}
	if o.Tarball != "" && len(b.platforms) > 1 {
		return nil, fmt.Errorf("a tarball holds one platform, and %d are asked for: pass one --platform, or use --oci-layout or --push for an index", len(b.platforms))
	}
	b.epoch, err = sourceDateEpoch(o.SourceDateEpoch)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// sourceDateEpoch is t, else $SOURCE_DATE_EPOCH, else the Unix epoch.
func sourceDateEpoch(t time.Time) (time.Time, error) {
	if !t.IsZero() {
		return t.UTC(), nil
	}
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970 (git log -1 --format=%%ct gives the last commit's)", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

func (b *builder) run(ctx context.Context) (Result, error) {
	fns, err := b.functions()
	if err != nil {
		return Result{}, err
	}
	roots, err := caRoots()
	if err != nil {
		return Result{}, err
	}
	bases, err := b.bases(ctx)
	if err != nil {
		return Result{}, err
	}
	tmp, err := os.MkdirTemp("", "tether-build-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(tmp)

	var res Result
	var built []v1.ImageIndex // per function: the index, or nil for single images
	var images []v1.Image
	for _, fn := range fns {
		labels := b.labels(fn)
		var plats []v1.Image
		for i, p := range b.platforms {
			bin := filepath.Join(tmp, fn.Name+"-"+strings.ReplaceAll(p.String(), "/", "-"))
			if err := b.goBuild(ctx, fn, p, bin); err != nil {
				return Result{}, err
			}
			if i == 0 {
				vcsLabels(bin, labels)
			}
			img, err := b.image(bases[i], p, bin, roots, labels)
			if err != nil {
				return Result{}, fmt.Errorf("image of %s for %s: %w", fn.Name, p.String(), err)
			}
			plats = append(plats, img)
		}
		out, idx, err := b.describe(fn.Name, plats, labels)
		if err != nil {
			return Result{}, err
		}
		res.Images = append(res.Images, out)
		built = append(built, idx)
		images = append(images, plats[0])
	}
	if err := b.publish(ctx, res.Images, images, built); err != nil {
		return Result{}, err
	}
	return res, nil
}

// functions finds the functions of the package in b.dir, those asked for.
func (b *builder) functions() ([]gen.Function, error) {
	all, diags := gen.Functions([]string{"."}, &gen.Options{Dir: b.dir})
	if len(diags) > 0 {
		var lines []string
		for _, d := range diags {
			lines = append(lines, d.String())
		}
		//lint:ignore ST1005 it ends with a command to run (./...), not punctuation
		return nil, fmt.Errorf("%s\nfix these, then run go generate ./...", strings.Join(lines, "\n"))
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%s has no //tether:function", b.opts.Dir)
	}
	fns := all
	if len(b.opts.Functions) > 0 {
		var names []string
		for _, f := range all {
			names = append(names, f.Name)
		}
		fns = nil
		for _, want := range b.opts.Functions {
			i := slices.Index(names, want)
			if i < 0 {
				return nil, fmt.Errorf("function %q: %s has %s", want, b.opts.Dir, strings.Join(names, ", "))
			}
			fns = append(fns, all[i])
		}
	}
	for _, f := range fns {
		if main := filepath.Join(mainDir(f), gen.MainFileName); !isFile(main) {
			//lint:ignore ST1005 it ends with a command to run (./...), not punctuation
			return nil, fmt.Errorf("function %s has no generated main %s: run go generate ./...", f.Name, main)
		}
	}
	return fns, nil
}

// mainDir is the folder of fn's generated main.
func mainDir(fn gen.Function) string {
	return filepath.Join(fn.Dir, "cmd", fn.Name)
}

// labels are fn's labels but the VCS ones.
func (b *builder) labels(fn gen.Function) map[string]string {
	l := map[string]string{
		LabelFunction: fn.Name,
		LabelTrigger:  fn.Trigger,
	}
	if t := triggerType(fn.Dir, b.opts.Env, fn.Trigger); t != "" {
		l[LabelTriggerType] = t
	}
	outs := slices.Clone(fn.Outputs)
	if fn.Return != "" {
		outs = append(outs, fn.Return)
	}
	if len(outs) > 0 {
		l[LabelOutputs] = strings.Join(outs, ",")
	}
	return l
}

// image appends the function's layer to base and sets its config.
func (b *builder) image(base v1.Image, p v1.Platform, bin string, roots []byte, labels map[string]string) (v1.Image, error) {
	mt, err := base.MediaType()
	if err != nil {
		return nil, err
	}
	layerType := types.OCILayer
	if mt == types.DockerManifestSchema2 {
		layerType = types.DockerLayer
	}
	entrypoint := []string{Entrypoint}
	if b.sidecar {
		entrypoint = SidecarEntrypoint
	}
	layer, err := newLayer(bin, entrypoint[0], roots, b.epoch, layerType)
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: layerType,
		History: v1.History{
			Created:   v1.Time{Time: b.epoch},
			CreatedBy: "tether build",
			Comment:   cmp.Or(labels[LabelFunction], "sidecar"),
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant, cf.OSVersion = p.OS, p.Architecture, p.Variant, ""
	cf.Created = v1.Time{Time: b.epoch}
	cf.Author = ""
	c := &cf.Config
	c.Entrypoint = entrypoint
	c.Cmd = nil
	c.User = User
	c.WorkingDir = "/"
	c.ExposedPorts = nil
	if labels[LabelTriggerType] == WebhookType {
		c.ExposedPorts = map[string]struct{}{strconv.Itoa(PublicPort) + "/tcp": {}}
	}
	if !b.sidecar {
		c.Env = setEnv(c.Env, "TETHER_COMPONENTS", ComponentsDir)
	}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	for k, v := range labels {
		c.Labels[k] = v
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	return mutate.CreatedAt(img, v1.Time{Time: b.epoch})
}

// setEnv sets key=value in env, replacing an earlier value.
func setEnv(env []string, key, value string) []string {
	out := slices.DeleteFunc(slices.Clone(env), func(e string) bool { return strings.HasPrefix(e, key+"=") })
	return append(out, key+"="+value)
}

// describe returns fn's Image and, with several platforms, its index.
func (b *builder) describe(fn string, plats []v1.Image, labels map[string]string) (Image, v1.ImageIndex, error) {
	out := Image{
		Function: fn,
		Tag:      b.opts.Repository + "/" + fn + ":" + b.opts.Tag,
		Labels:   labels,
	}
	var adds []mutate.IndexAddendum
	for i, img := range plats {
		p := b.platforms[i]
		d, err := img.Digest()
		if err != nil {
			return Image{}, nil, err
		}
		size, unpacked, err := sizes(img)
		if err != nil {
			return Image{}, nil, err
		}
		out.Platforms = append(out.Platforms, Platform{Platform: p.String(), Digest: d.String(), Size: size, Uncompressed: unpacked})
		out.Size += size
		out.Uncompressed += unpacked
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	if len(plats) == 1 {
		out.Digest = out.Platforms[0].Digest
		mt, _ := plats[0].MediaType()
		out.MediaType = string(mt)
		out.Reference = b.opts.Repository + "/" + fn + "@" + out.Digest
		return out, nil, nil
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	d, err := idx.Digest()
	if err != nil {
		return Image{}, nil, err
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return Image{}, nil, err
	}
	out.Size += int64(len(raw))
	out.Digest = d.String()
	out.MediaType = string(types.OCIImageIndex)
	out.Reference = b.opts.Repository + "/" + fn + "@" + out.Digest
	return out, idx, nil
}

// sizes returns what pulling img transfers (manifest, config, compressed
// layers) and its layers' unpacked size.
func sizes(img v1.Image) (size, unpacked int64, err error) {
	raw, err := img.RawManifest()
	if err != nil {
		return 0, 0, err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return 0, 0, err
	}
	size = int64(len(raw) + len(cfg))
	layers, err := img.Layers()
	if err != nil {
		return 0, 0, err
	}
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return 0, 0, err
		}
		u, err := partial.UncompressedSize(l)
		if err != nil {
			return 0, 0, err
		}
		size += n
		unpacked += u
	}
	return size, unpacked, nil
}

// caRootPaths are where Linux distributions keep the CA bundle.
var caRootPaths = []string{
	"/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine, Arch
	"/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
	"/etc/ssl/ca-bundle.pem",             // openSUSE
	"/etc/ssl/cert.pem",                  // macOS, Alpine
}

// caRoots reads the host's CA bundle, which goes into every image so that
// functions can call TLS services from scratch.
func caRoots() ([]byte, error) {
	if p := os.Getenv("SSL_CERT_FILE"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("CA roots from SSL_CERT_FILE: %w", err)
		}
		return b, nil
	}
	for _, p := range caRootPaths {
		b, err := os.ReadFile(p)
		if err == nil {
			return b, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("CA roots: %w", err)
		}
	}
	return nil, fmt.Errorf("no CA roots on this machine (looked in %s): install ca-certificates, or set SSL_CERT_FILE", strings.Join(caRootPaths, ", "))
}
