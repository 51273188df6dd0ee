// Package localstorage is Tether's local file storage binding, type
// "bindings.localstorage", after Dapr's: an output that creates, reads,
// lists and deletes files under one root directory.
//
//	apiVersion: dapr.io/v1alpha1
//	kind: Component
//	metadata:
//	  name: files
//	spec:
//	  type: bindings.localstorage
//	  version: v1
//	  metadata:
//	  - name: rootPath
//	    value: /var/lib/orders
//
// Every file name is confined to the root: absolute names, names with a ".."
// element and symbolic links that lead outside the root are refused (the
// files are opened through an [os.Root]). Data is stored byte for byte:
// unlike Dapr, create never unquotes or base64-decodes by guessing; it decodes
// base64 only when asked to with decodeBase64.
//
// A function that needs get, list or delete takes a [*Client] among its
// outputs; one that only writes may use functions.Output[T].
package localstorage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tetherfn/tether/bindings"
)

// TypeName is the binding type's name in component files.
const TypeName = "bindings.localstorage"

// Metadata keys of a request to the output.
const (
	// MetaFileName names the file of create, get and delete, and the
	// directory list lists. Answered by create.
	MetaFileName = "fileName"
	// MetaDecodeBase64 ("true") makes create decode the data from base64
	// before writing it, overriding the component's decodeBase64.
	MetaDecodeBase64 = "decodeBase64"
)

// Type declares bindings.localstorage.
var Type = bindings.Type{
	Name:       TypeName,
	Version:    "v1",
	Summary:    "Local files: create, get, list and delete files under one root directory.",
	Directions: bindings.DirOutput,
	Operations: []bindings.Operation{bindings.OpCreate, bindings.OpGet, bindings.OpList, bindings.OpDelete},
	Metadata: []bindings.MetadataKey{
		{Name: "rootPath", Kind: bindings.KindString, Required: true, Example: "/var/lib/files",
			Description: "Directory the files live in; created if missing. Every file name is relative to it and cannot leave it. Symbolic links in it are resolved at open; /proc, /sys, /boot, /var/run/secrets and /run/secrets (and anything through a link into them) are refused."},
		{Name: "decodeBase64", Kind: bindings.KindBool, Default: "false",
			Description: `Decode create's data from base64 before writing it (Dapr clients that send files base64-encoded). Data that is not valid base64 is then an error. A request's "decodeBase64" metadata overrides it.`},
	},
	Check:     check,
	NewOutput: func(ctx context.Context, cfg bindings.Config) (bindings.Output, error) { return newOutput(cfg) },
}

// check is the type's Check: what newOutput refuses of rootPath as written,
// before it looks at the file system (where it also resolves symbolic
// links, which only the machine that runs the function can do).
func check(cfg bindings.Config, _ bindings.Direction) error {
	rootPath := cfg.Values().String("rootPath")
	if strings.TrimSpace(rootPath) == "" {
		return &bindings.KeyError{Key: "rootPath", Msg: "must not be empty"}
	}
	if !filepath.IsAbs(rootPath) {
		return nil // relative to where the function runs
	}
	return refuseSystemDir(rootPath, filepath.Clean(rootPath))
}

// refuseSystemDir refuses a root that is, or is inside, one of
// disallowedRoots; rootPath is as written, for the message.
func refuseSystemDir(rootPath, resolved string) error {
	for _, d := range disallowedRoots {
		if resolved == d || strings.HasPrefix(resolved, d+string(filepath.Separator)) {
			return &bindings.KeyError{Key: "rootPath", Msg: fmt.Sprintf("%q is inside %s, which a component may not expose", rootPath, d)}
		}
	}
	return nil
}

func init() { bindings.Register(Type) }

// disallowedRoots are system directories a component must not expose, as in
// Dapr (secrets mounted by Kubernetes among them).
var disallowedRoots = []string{"/proc", "/sys", "/boot", "/var/run/secrets", "/run/secrets"}

// resolveRoot makes rootPath absolute with symbolic links resolved (as far as
// it exists), and refuses system directories.
func resolveRoot(rootPath string) (string, error) {
	if strings.TrimSpace(rootPath) == "" {
		return "", &bindings.KeyError{Key: "rootPath", Msg: "must not be empty"}
	}
	abs, err := filepath.Abs(rootPath)
	if err != nil {
		return "", &bindings.KeyError{Key: "rootPath", Msg: err.Error()}
	}
	// Resolve the longest existing prefix: a root that does not exist yet
	// may still sit below a symbolic link into /proc.
	existing, rest := abs, ""
	for {
		if _, err := os.Lstat(existing); err == nil {
			break
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			break
		}
		rest = filepath.Join(filepath.Base(existing), rest)
		existing = parent
	}
	resolved, err := filepath.EvalSymlinks(existing)
	if err != nil {
		return "", &bindings.KeyError{Key: "rootPath", Msg: fmt.Sprintf("resolve %q: %v", existing, err)}
	}
	resolved = filepath.Join(resolved, rest)
	if err := refuseSystemDir(rootPath, resolved); err != nil {
		return "", err
	}
	return resolved, nil
}

// ErrBadName is wrapped in the error of a request whose file name is
// absolute, climbs out of the root with "..", or is otherwise unusable.
var ErrBadName = errors.New("file name not allowed")

// cleanName checks a request's file name and returns it in the slash-separated
// form os.Root takes. dir allows "" and "." (the root itself), for list.
func cleanName(name string, dir bool) (string, error) {
	if name == "" || name == "." {
		if dir {
			return ".", nil
		}
		return "", fmt.Errorf("%w: empty file name", ErrBadName)
	}
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w: %q contains a NUL byte", ErrBadName, name)
	}
	if filepath.IsAbs(name) || strings.HasPrefix(name, "/") || strings.HasPrefix(name, `\`) || filepath.VolumeName(name) != "" {
		return "", fmt.Errorf("%w: %q is absolute; names are relative to rootPath", ErrBadName, name)
	}
	for _, part := range strings.FieldsFunc(name, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return "", fmt.Errorf("%w: %q contains \"..\"", ErrBadName, name)
		}
	}
	clean := filepath.ToSlash(filepath.Clean(filepath.FromSlash(name)))
	if clean == "." && !dir {
		return "", fmt.Errorf("%w: %q names the root directory itself", ErrBadName, name)
	}
	if strings.HasPrefix(filepath.Base(clean), tmpPrefix) {
		return "", fmt.Errorf("%w: %q: names starting with %s are reserved for files being written", ErrBadName, name, tmpPrefix)
	}
	return clean, nil
}
