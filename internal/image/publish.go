package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// publish writes the images where b.opts say. out[i] describes function i,
// first[i] is its first platform's image and idx[i] its index (nil for a
// single platform).
func (b *builder) publish(ctx context.Context, out []Image, first []v1.Image, idx []v1.ImageIndex) error {
	if b.opts.Push {
		for i := range out {
			tag, err := name.NewTag(out[i].Tag)
			if err != nil {
				return fmt.Errorf("push %s: %w", out[i].Tag, err)
			}
			fmt.Fprintf(b.log, "tether: push %s\n", tag)
			opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
			if idx[i] != nil {
				err = remote.WriteIndex(tag, idx[i], opts...)
			} else {
				err = remote.Write(tag, first[i], opts...)
			}
			if err != nil {
				return fmt.Errorf("push %s: %w", tag, err)
			}
		}
	}
	if b.opts.Tarball != "" {
		refs := map[name.Reference]v1.Image{}
		for i := range out {
			tag, err := name.NewTag(out[i].Tag)
			if err != nil {
				return fmt.Errorf("tarball: %s: %w", out[i].Tag, err)
			}
			refs[tag] = first[i]
		}
		// Written beside, then renamed: a failed build leaves no half file.
		tmp := b.opts.Tarball + ".tmp"
		if err := tarball.MultiRefWriteToFile(tmp, refs); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("tarball %s: %w", b.opts.Tarball, err)
		}
		if err := os.Rename(tmp, b.opts.Tarball); err != nil {
			return fmt.Errorf("tarball %s: %w", b.opts.Tarball, err)
		}
	}
	if dir := b.opts.OCILayout; dir != "" {
		p, err := layout.FromPath(dir)
		if err != nil {
			if err := os.MkdirAll(filepath.Dir(filepath.Clean(dir)), 0o755); err != nil {
				return fmt.Errorf("oci layout %s: %w", dir, err)
			}
			if p, err = layout.Write(dir, empty.Index); err != nil {
				return fmt.Errorf("oci layout %s: %w", dir, err)
			}
		}
		for i := range out {
			// The tag names the image in index.json; building again
			// replaces the entry rather than adding one.
			ann := map[string]string{"org.opencontainers.image.ref.name": out[i].Tag}
			opt := layout.WithAnnotations(ann)
			if idx[i] != nil {
				err = p.ReplaceIndex(idx[i], match.Annotation("org.opencontainers.image.ref.name", out[i].Tag), opt)
			} else {
				err = p.ReplaceImage(first[i], match.Annotation("org.opencontainers.image.ref.name", out[i].Tag), opt)
			}
			if err != nil {
				return fmt.Errorf("oci layout %s: %w", dir, err)
			}
		}
	}
	return nil
}
