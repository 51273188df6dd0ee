package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tetherfn/tether/internal/image"
)

func init() { register(newBuildCommand) }

// buildOptions are the flags of tether build.
type buildOptions struct {
	functions []string
	platforms []string
	base      string
	push      string
	tag       string
	tarball   string
	layout    string
	env       string
	output    string
	sidecar   bool
	resources []string
}

func newBuildCommand(env *Env) *cobra.Command {
	var o buildOptions
	cmd := &cobra.Command{
		Use:   "build [folder]",
		Short: "Build one OCI image per function, without a Docker daemon",
		Long: `build compiles the generated main of each function of the package in the
folder (default: the current one) with go build (CGO_ENABLED=0, -trimpath,
stripped) and makes it an OCI image: one layer holding the binary (as
/function) and the host's CA roots, on scratch (or --base), run as the
non-root user 65532, with TETHER_COMPONENTS=/components (mount the component
files there), the public port 8080 exposed when the trigger is a webhook,
and labels naming the function, its trigger component and type (from
components/<env>), its outputs, and the source repository and revision from
the VCS stamp.

No Docker daemon is needed. The same source gives the same digest: file
and creation times are SOURCE_DATE_EPOCH (default: 1970-01-01).

Images are named <repository>/<function>:<tag>. --push REPOSITORY sends them
to a registry (credentials from the Docker config, as docker login writes
them); --tarball writes one file that docker load reads; --oci-layout writes
an OCI image layout folder. Several --platform values make an image index
(not for --tarball). For each function it prints the digest, the size to
pull (compressed) and unpacked, and the reference by digest.

Run go generate ./... first: build does not generate code.

--sidecar builds the tether sidecar image instead, for an app in any
language, in place of daprd (docs/sidecar.md): <repository>/sidecar:<tag>,
running "tether sidecar --resources-path /components". It is compiled in the
folder, which must be in a Go module that requires github.com/tetherfn/tether
(or Tether's checkout). With --resources-path, it links only the binding
drivers those components use (and memory): a smaller image, which must be
rebuilt when a component of another type is added; without, every driver.`,
		Example: `  tether build ./examples/hello --tarball hello.tar && docker load -i hello.tar
  tether build ./orders --push registry.example.com/shop
  tether build ./orders --push registry.example.com/shop --platform linux/amd64,linux/arm64
  tether build . --function greet --oci-layout out/oci --output json
  tether build --sidecar --tarball sidecar.tar && docker load -i sidecar.tar
  tether build --sidecar --resources-path ./components --push registry.example.com/shop`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError(cmd, "want at most one folder")
			}
			return nil
		},
		ValidArgsFunction: completeDirs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.output != "text" && o.output != "json" {
				return usageError(cmd, fmt.Sprintf("--output %q: want text or json", o.output))
			}
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			wd, err := env.workDir()
			if err != nil {
				return err
			}
			opts := image.Options{
				Dir:       absIn(wd, dir),
				Functions: o.functions,
				Env:       o.env,
				Base:      o.base,
				Platforms: o.platforms,
				Tag:       o.tag,
				Push:      o.push != "",
				Log:       env.Stderr,
			}
			if o.push != "" {
				opts.Repository = strings.TrimSuffix(o.push, "/")
			}
			if o.tarball != "" {
				opts.Tarball = absIn(wd, o.tarball)
			}
			if o.layout != "" {
				opts.OCILayout = absIn(wd, o.layout)
			}
			if o.base != "" && o.base != "scratch" && isPath(wd, o.base) {
				opts.Base = absIn(wd, o.base)
			}
			var res image.Result
			if o.sidecar {
				res, err = buildSidecar(cmd, wd, opts, o)
			} else {
				if len(o.resources) > 0 {
					return usageError(cmd, "--resources-path selects the drivers of --sidecar; a function's image takes its components from the mounted /components")
				}
				res, err = image.Build(cmd.Context(), opts)
			}
			if err != nil {
				if cmd.Context().Err() != nil {
					return nil
				}
				return err
			}
			if o.output == "json" {
				return writeJSON(env.Stdout, res.Images)
			}
			writeBuildText(env.Stdout, res.Images)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.functions, "function", nil, "build only these functions (default: every function of the package)")
	f.StringSliceVar(&o.platforms, "platform", nil, "os/arch[/variant] to build for, comma-separated; more than one makes an image index (default: linux/<this machine's arch>)")
	f.StringVar(&o.base, "base", "scratch", "image to build on: scratch, a registry reference, a docker save tarball or an OCI layout folder")
	f.StringVar(&o.push, "push", "", "push each image to REPOSITORY/<function>:<tag>, with the Docker config's credentials")
	f.StringVar(&o.tag, "tag", "latest", "the tag of every image")
	f.StringVar(&o.tarball, "tarball", "", "write the images to this file, for docker load (one platform only)")
	f.StringVar(&o.layout, "oci-layout", "", "write the images to this OCI image layout folder (created or updated)")
	f.StringVar(&o.env, "env", "prod", "read the trigger's type for the image's labels from components/<env> (else components)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	f.BoolVar(&o.sidecar, "sidecar", false, "build the tether sidecar image (<repository>/sidecar) instead of the functions' images")
	f.StringSliceVar(&o.resources, "resources-path", nil, "with --sidecar: link only the drivers these component folders use (repeatable; default every driver)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("platform", cobra.FixedCompletions([]string{"linux/amd64", "linux/arm64", "linux/arm/v7"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagDirname("oci-layout")
	withUsageHint(cmd)
	return cmd
}

// buildSidecar is tether build --sidecar.
func buildSidecar(cmd *cobra.Command, wd string, opts image.Options, o buildOptions) (image.Result, error) {
	if len(o.functions) > 0 {
		return image.Result{}, usageError(cmd, "--function and --sidecar: the sidecar image holds no function")
	}
	so := image.SidecarOptions{Options: opts}
	if len(o.resources) > 0 {
		var dirs []string
		for _, d := range o.resources {
			dirs = append(dirs, absIn(wd, d))
		}
		drivers, err := image.DriversFor(dirs)
		if err != nil {
			return image.Result{}, err
		}
		so.Drivers = drivers
		fmt.Fprintf(opts.Log, "tether: sidecar drivers: %s\n", strings.Join(drivers, ", "))
	}
	return image.BuildSidecar(cmd.Context(), so)
}

// isPath reports whether s names an existing file or folder, relative to
// wd: a --base given so is read from disk, not from a registry.
func isPath(wd, s string) bool {
	_, err := os.Stat(absIn(wd, s))
	return err == nil
}

// writeBuildText prints one line per image (per platform of an index).
func writeBuildText(w io.Writer, imgs []image.Image) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, img := range imgs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t(%s unpacked)\t%s\n", img.Function, img.Digest, megabytes(img.Size), megabytes(img.Uncompressed), img.Reference)
		if len(img.Platforms) > 1 {
			for _, p := range img.Platforms {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t(%s unpacked)\t\n", p.Platform, p.Digest, megabytes(p.Size), megabytes(p.Uncompressed))
			}
		}
	}
	tw.Flush()
}

func megabytes(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
