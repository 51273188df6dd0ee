// Package image builds Tether functions into OCI images without a Docker
// daemon, as tether build does: each function's generated main is compiled
// statically (CGO_ENABLED=0, -trimpath, stripped) and appended as one layer,
// with the host's CA roots, onto scratch (or another base), to run as the
// non-root user 65532. The same source gives the same digest: file times and
// the image's creation time are pinned to SOURCE_DATE_EPOCH (default: the
// Unix epoch).
//
// Each image carries labels that say what it runs (Label*), so that
// tether deploy can render manifests from the image alone:
//
//	res, err := image.Build(ctx, image.Options{Dir: "./orders", Push: "registry.example.com/shop"})
//	for _, img := range res.Images {
//		fmt.Println(img.Function, img.Reference) // registry.example.com/shop/store-order@sha256:...
//	}
package image

import (
	"context"
	"io"
	"time"
)

// The labels every image carries. deploy reads them back.
const (
	// LabelFunction is the function's name.
	LabelFunction = "dev.tether.function"
	// LabelTrigger is the name of its trigger component;
	// LabelTriggerType that component's spec.type (bindings.rabbitmq...)
	// in the components folder the build looked at (Options.Env), absent
	// when that folder does not define it.
	LabelTrigger     = "dev.tether.trigger"
	LabelTriggerType = "dev.tether.trigger.type"
	// LabelOutputs are the names of the output components it binds
	// (its Outputs fields, then its return binding), comma-separated, in
	// that order; absent when it has none.
	LabelOutputs = "dev.tether.outputs"
	// LabelSource and LabelRevision come from the binary's VCS stamp
	// (go version -m): the module's repository URL and the commit. They are
	// absent when the build had no VCS information.
	LabelSource   = "org.opencontainers.image.source"
	LabelRevision = "org.opencontainers.image.revision"
)

// What the runtime finds inside every image.
const (
	// Entrypoint is the function's binary.
	Entrypoint = "/function"
	// ComponentsDir is TETHER_COMPONENTS: mount the component files there.
	ComponentsDir = "/components"
	// User runs the function (distroless's "nonroot").
	User = "65532:65532"
	// PublicPort is the runtime's public port (TETHER_HTTP_PORT, else
	// PORT, else 8080), where a webhook trigger is served: the image
	// exposes it when the trigger is a webhook (bindings.http), and no
	// port otherwise. The control API listens on loopback only (see
	// docs/security.md).
	PublicPort = 8080
	// WebhookType is the trigger type served on PublicPort.
	WebhookType = "bindings.http"
)

// Options say what to build and where to put it. Only one of Push, Tarball
// and OCILayout is needed; with none, the images are built and described
// but not written anywhere.
type Options struct {
	// Dir is the folder of the package whose functions are built,
	// relative to the working directory; "" means ".".
	Dir string
	// Functions limits the build to these function names; nil means all.
	Functions []string
	// Env names the components folder whose trigger types are put in
	// LabelTriggerType: components/<Env>, else components. "" means "prod".
	Env string
	// Base is the image to build on: "" or "scratch" for none, a registry
	// reference, a `docker save` tarball, or an OCI layout folder.
	Base string
	// Platforms are os/arch[/variant] values; nil means linux on the
	// host's architecture. More than one gives an image index.
	Platforms []string
	// Repository names the images: <Repository>/<function>. "" means
	// "tether" (so docker load tags tether/<function>:latest).
	Repository string
	// Tag is the tag written with each image; "" means "latest".
	Tag string
	// Push sends each image to the registry of Repository, with
	// credentials from the Docker config (authn.DefaultKeychain).
	Push bool
	// Tarball writes one `docker load` tarball with every image (one
	// platform only).
	Tarball string
	// OCILayout writes an OCI image layout folder with every image.
	OCILayout string
	// SourceDateEpoch pins file and creation times; the zero value means
	// $SOURCE_DATE_EPOCH, else the Unix epoch.
	SourceDateEpoch time.Time
	// Log receives progress lines (the go builds, the pushes); nil
	// discards them.
	Log io.Writer
}

// Result is what Build made, one Image per function, sorted by name.
type Result struct {
	Images []Image `json:"images"`
}

// Image is one function's image (or image index, with several platforms).
type Image struct {
	Function string `json:"function"`
	// Digest is the manifest's (or index's) digest, sha256:...
	Digest string `json:"digest"`
	// Reference is <Repository>/<function>@<Digest>: what a Deployment
	// pins.
	Reference string `json:"reference"`
	// Tag is <Repository>/<function>:<Tag>, what docker load names it.
	Tag string `json:"tag"`
	// MediaType is an OCI manifest or an OCI index.
	MediaType string `json:"mediaType"`
	// Size is the bytes a pull of one platform transfers (manifest, config
	// and compressed layers, summed over platforms for an index);
	// Uncompressed the layers' unpacked size, likewise.
	Size         int64 `json:"size"`
	Uncompressed int64 `json:"uncompressed"`
	// Platforms are the images of an index, one per platform; a single
	// image has one entry too.
	Platforms []Platform `json:"platforms"`
	// Labels are the image's labels (see Label*).
	Labels map[string]string `json:"labels"`
}

// Platform is one platform's image.
type Platform struct {
	Platform     string `json:"platform"`
	Digest       string `json:"digest"`
	Size         int64  `json:"size"`
	Uncompressed int64  `json:"uncompressed"`
}

// Build builds the functions of opts.Dir into images and writes them where
// opts say.
func Build(ctx context.Context, opts Options) (Result, error) {
	b, err := newBuilder(opts)
	if err != nil {
		return Result{}, err
	}
	return b.run(ctx)
}
