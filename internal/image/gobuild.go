package image

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"go.yaml.in/yaml/v3"

	"github.com/tetherfn/tether/internal/gen"
)

// goBuild compiles fn's generated main for p into out: static, without
// file paths, stripped, and stamped with its VCS revision when the module
// is in a repository (for LabelSource and LabelRevision), whatever GOFLAGS
// says; where the VCS cannot be read, without the stamp.
func (b *builder) goBuild(ctx context.Context, fn gen.Function, p v1.Platform, out string) error {
	return b.goBuildPackage(ctx, fn.Dir, "./cmd/"+fn.Name, "", p, out)
}

// goBuildPackage is goBuild of any main package, in dir, with build tags.
func (b *builder) goBuildPackage(ctx context.Context, dir, pkg, tags string, p v1.Platform, out string) error {
	fmt.Fprintf(b.log, "tether: go build %s (%s)\n", pkg, p.String())
	err := b.runGoBuild(ctx, dir, pkg, tags, p, out, "-buildvcs=auto")
	var vcs *vcsError
	if errors.As(err, &vcs) {
		fmt.Fprintf(b.log, "tether: %s: building without the source and revision labels\n", vcs.msg)
		err = b.runGoBuild(ctx, dir, pkg, tags, p, out, "-buildvcs=false")
	}
	return err
}

// vcsError is a go build that failed on reading the VCS.
type vcsError struct{ msg string }

func (e *vcsError) Error() string { return e.msg }

func (b *builder) runGoBuild(ctx context.Context, dir, pkg, tags string, p v1.Platform, out, buildvcs string) error {
	args := []string{"build", "-trimpath", buildvcs, "-ldflags=-s -w"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "-o", out, pkg)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	switch {
	case p.Architecture == "arm" && p.Variant != "":
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	case p.Architecture == "amd64" && p.Variant != "":
		cmd.Env = append(cmd.Env, "GOAMD64="+p.Variant)
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		msg := strings.TrimSpace(stderr.String())
		if buildvcs == "-buildvcs=auto" && strings.Contains(msg, "error obtaining VCS status") {
			first, _, _ := strings.Cut(msg, "\n")
			return &vcsError{msg: first}
		}
		hint := "fix the build (go vet ./... shows more), or run go generate ./... if the code changed"
		if pkg == SidecarPackage {
			hint = "build the sidecar in a module that requires github.com/tetherfn/tether at a version that has cmd/tether-sidecar (go get github.com/tetherfn/tether@latest), or in Tether's own checkout"
		}
		return fmt.Errorf("go build %s for %s in %s: %w\n%s\n%s", pkg, p.String(), dir, err, msg, hint)
	}
	return nil
}

// vcsLabels adds the source and revision labels from bin's VCS stamp, when
// it has one.
func vcsLabels(bin string, labels map[string]string) {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && s.Value != "" {
			labels[LabelRevision] = s.Value
		}
	}
	if _, ok := labels[LabelRevision]; ok && info.Main.Path != "" && strings.Contains(strings.Split(info.Main.Path, "/")[0], ".") {
		// A module path that starts with a host names its repository
		// (github.com/owner/repo...), as pkg.go.dev reads it.
		parts := strings.Split(info.Main.Path, "/")
		if len(parts) > 3 && (parts[0] == "github.com" || parts[0] == "gitlab.com" || parts[0] == "bitbucket.org") {
			parts = parts[:3]
		}
		labels[LabelSource] = "https://" + strings.Join(parts, "/")
	}
}

// triggerType returns the spec.type of the component named trigger in
// dir/components/<env> (else dir/components), or "" when neither defines
// it. Only names and types are read: secrets are not resolved.
func triggerType(dir, env, trigger string) string {
	for _, d := range []string{filepath.Join(dir, "components", env), filepath.Join(dir, "components")} {
		files, _ := filepath.Glob(filepath.Join(d, "*.y*ml"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			dec := yaml.NewDecoder(bytes.NewReader(data))
			for {
				var doc struct {
					Kind     string `yaml:"kind"`
					Metadata struct {
						Name string `yaml:"name"`
					} `yaml:"metadata"`
					Spec struct {
						Type string `yaml:"type"`
					} `yaml:"spec"`
				}
				if err := dec.Decode(&doc); err != nil {
					break
				}
				if doc.Kind == "Component" && doc.Metadata.Name == trigger && doc.Spec.Type != "" {
					return doc.Spec.Type
				}
			}
		}
		if fi, err := os.Stat(d); err == nil && fi.IsDir() && len(files) > 0 {
			return "" // this environment exists but does not define it
		}
	}
	return ""
}
