package scaffold

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ExistsError is Write's refusal to overwrite files.
type ExistsError struct {
	Dir   string
	Paths []string // relative to Dir, slash-separated
}

func (e *ExistsError) Error() string {
	return fmt.Sprintf("%s already has %d of the files to write; nothing was written:\n  %s",
		e.Dir, len(e.Paths), strings.Join(e.Paths, "\n  "))
}

// Write writes files under dir, creating folders as needed. It never
// overwrites: when any file already exists, it writes nothing and returns
// an *ExistsError listing them all.
func Write(dir string, files []File) error {
	var exists []string
	for _, f := range files {
		_, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(f.Path)))
		switch {
		case err == nil:
			exists = append(exists, f.Path)
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("check %s: %w", filepath.Join(dir, f.Path), err)
		}
	}
	if len(exists) > 0 {
		return &ExistsError{Dir: dir, Paths: exists}
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		// O_EXCL: a file that appeared since the check is still never
		// overwritten.
		out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		_, err = out.Write(f.Content)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}
