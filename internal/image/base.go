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
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// scratch is the empty base, with OCI media types.
var scratch = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)

// bases returns the base image of each of b.platforms.
func (b *builder) bases(ctx context.Context) ([]v1.Image, error) {
	base := b.opts.Base
	var out []v1.Image
	for _, p := range b.platforms {
		var img v1.Image
		var err error
		switch {
		case base == "" || base == "scratch":
			img = scratch
		case isDir(base):
			img, err = layoutImage(base, p)
		case isFile(base):
			img, err = tarball.ImageFromPath(base, nil)
		default:
			var ref name.Reference
			ref, err = name.ParseReference(base)
			if err != nil {
				return nil, fmt.Errorf("base %q is neither a file, a folder nor an image reference: %w", base, err)
			}
			img, err = remote.Image(ref, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithPlatform(p))
		}
		if err != nil {
			return nil, fmt.Errorf("base %s for %s: %w", base, p.String(), err)
		}
		if img != scratch {
			cf, err := img.ConfigFile()
			if err != nil {
				return nil, fmt.Errorf("base %s: %w", base, err)
			}
			if cf.OS != p.OS || cf.Architecture != p.Architecture {
				return nil, fmt.Errorf("base %s is for %s/%s, not %s", base, cf.OS, cf.Architecture, p.String())
			}
		}
		out = append(out, img)
	}
	return out, nil
}

// layoutImage finds the image for p in the OCI layout at dir: the first
// image, or the first of an index, that matches.
func layoutImage(dir string, p v1.Platform) (v1.Image, error) {
	if !isFile(filepath.Join(dir, "index.json")) {
		return nil, fmt.Errorf("%s is not an OCI image layout (no index.json)", dir)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, err
	}
	return findImage(idx, p)
}

func findImage(idx v1.ImageIndex, p v1.Platform) (v1.Image, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range m.Manifests {
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, err
			}
			if img, err := findImage(child, p); err == nil {
				return img, nil
			}
		case d.MediaType.IsImage():
			if d.Platform != nil && !d.Platform.Satisfies(p) {
				continue
			}
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, err
			}
			cf, err := img.ConfigFile()
			if err != nil {
				return nil, err
			}
			if cf.OS == p.OS && cf.Architecture == p.Architecture {
				return img, nil
			}
		}
	}
	return nil, fmt.Errorf("no image for %s", p.String())
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
