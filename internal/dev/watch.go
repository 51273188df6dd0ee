package dev

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// debounce is how long the tree must be quiet after a change before a
// reload: an editor's save is often several writes and renames.
const debounce = 100 * time.Millisecond

// watch reloads functions as their sources and components change, until
// ctx is done.
func (s *server) watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer w.Close()
	for _, t := range s.targets {
		if err := s.watchTree(w, t.dir); err != nil {
			return err
		}
	}
	for _, f := range s.fns {
		go s.computeDeps(f)
	}
	s.recordShapes()
	changed := map[string]bool{}
	var quiet <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-w.Errors:
			s.logs.printf("tether dev: watch: %v\n", err)
		case ev := <-w.Events:
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() && !s.skipDir(ev.Name) {
					_ = s.watchTree(w, ev.Name)
				}
			}
			if relevant(ev.Name) {
				changed[ev.Name] = true
				quiet = time.After(debounce)
			}
		case <-quiet:
			quiet = nil
			paths := changed
			changed = map[string]bool{}
			s.reload(ctx, paths)
		}
	}
}

// relevant: Go sources (not generated ones, not tests), component files,
// go.mod and go.sum.
func relevant(path string) bool {
	base := filepath.Base(path)
	switch {
	case strings.HasPrefix(base, ".") || strings.HasSuffix(base, "~"):
		return false
	case strings.HasSuffix(base, "_gen.go") || strings.HasSuffix(base, "_test.go"):
		return false
	case strings.HasSuffix(base, ".go"), base == "go.mod", base == "go.sum":
		return true
	case strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml"):
		return true
	}
	return false
}

func (s *server) skipDir(path string) bool {
	base := filepath.Base(path)
	return (strings.HasPrefix(base, ".") && base != ".") || base == "testdata" || base == "node_modules" || base == "vendor" ||
		strings.HasPrefix(path, s.opts.State)
}

func (s *server) watchTree(w *fsnotify.Watcher, root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if path != root && s.skipDir(path) {
			return filepath.SkipDir
		}
		if err := w.Add(path); err != nil {
			return fmt.Errorf("watch %s: %w", path, err)
		}
		return nil
	})
}

// computeDeps records the folders of the packages f's main is built from,
// so that a change is reloaded in the functions it affects only.
func (s *server) computeDeps(f *function) {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", f.main)
	cmd.Dir = f.pkgDir
	out, err := cmd.Output()
	if err != nil {
		return // keep the old set; nil means every change affects f
	}
	deps := map[string]bool{}
	for _, d := range strings.Fields(string(out)) {
		deps[d] = true
	}
	s.mu.Lock()
	f.deps = deps
	s.mu.Unlock()
}

// affects reports whether a change in dir may change f's binary.
func (s *server) affects(f *function, dir string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.deps == nil {
		return strings.HasPrefix(dir, f.module)
	}
	return f.deps[dir]
}

// reload handles one quiet batch of changed paths.
func (s *server) reload(ctx context.Context, paths map[string]bool) {
	began := time.Now()
	rebuild := map[*function]bool{}
	restart := map[*function]bool{}
	s.mu.Lock()
	fns := append([]*function(nil), s.fns...)
	s.mu.Unlock()
	for path := range paths {
		dir, base := filepath.Dir(path), filepath.Base(path)
		for _, f := range fns {
			switch {
			case base == "go.mod" || base == "go.sum":
				if strings.HasPrefix(path, f.module+string(filepath.Separator)) {
					rebuild[f] = true
				}
			case strings.HasSuffix(base, ".go"):
				if s.affects(f, dir) {
					rebuild[f] = true
				}
			case strings.HasPrefix(path, f.components+string(filepath.Separator)):
				restart[f] = true
			}
		}
	}
	if len(rebuild) == 0 && len(restart) == 0 {
		return
	}
	var gen []target
	for f := range rebuild {
		gen = append(gen, target{dir: f.pkgDir, patterns: []string{"."}})
	}
	genNote := "generate skipped: no declaration changed"
	if need, shapes := s.needGenerate(paths); need && len(gen) > 0 {
		if err := generate(gen); err != nil {
			for f := range rebuild {
				s.fail(f, err)
			}
			return
		}
		maps.Copy(s.shapes, shapes)
		genNote = "generate " + time.Since(began).Round(time.Millisecond).String()
	}
	generated := time.Since(began)
	for f := range restart {
		if err := f.load(); err != nil {
			s.fail(f, err)
			delete(restart, f)
			continue
		}
		if !rebuild[f] {
			s.mu.Lock()
			p := s.procs[f.name]
			s.mu.Unlock()
			if p != nil {
				if err := s.restart(ctx, f, s.copyBinary(p.binary), false); err == nil {
					s.logs.printf("tether dev: restarted %s on its changed components (%s)\n", f.name, time.Since(began).Round(time.Millisecond))
				}
			}
		}
	}
	s.setFunctions(fns)
	for f := range rebuild {
		binary, err := build(ctx, f, s.bin)
		if err != nil {
			if ctx.Err() == nil {
				s.fail(f, err)
			}
			continue
		}
		s.mu.Lock()
		p := s.procs[f.name]
		s.mu.Unlock()
		if p != nil && !restart[f] && sameFile(p.binary, binary) {
			os.Remove(binary)
			continue // the change does not reach this function's binary
		}
		built := time.Since(began)
		if err := s.restart(ctx, f, binary, false); err != nil {
			continue
		}
		s.logs.printf("tether dev: reloaded %s: new code handles messages %s after the change (%s, build %s, start %s)\n",
			f.name, time.Since(began).Round(time.Millisecond), genNote, (built - generated).Round(time.Millisecond),
			(time.Since(began) - built).Round(time.Millisecond))
		go s.computeDeps(f)
	}
}

// copyBinary returns a copy of a running binary for a second process of
// the same build (the old one's file is removed when it stops).
func (s *server) copyBinary(path string) string {
	dst := filepath.Join(s.bin, fmt.Sprintf("%s-%d", filepath.Base(path), time.Now().UnixNano()))
	in, err := os.Open(path)
	if err != nil {
		return path
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return path
	}
	if _, err := io.Copy(out, in); err != nil || out.Close() != nil {
		return path
	}
	return dst
}

func sameFile(a, b string) bool {
	ha, errA := hashFile(a)
	hb, errB := hashFile(b)
	return errA == nil && errB == nil && bytes.Equal(ha, hb)
}

func hashFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
