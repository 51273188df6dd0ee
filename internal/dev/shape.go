package dev

import (
	"bytes"
	"crypto/sha256"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
)

// What the generator reads from a Go file is its declarations (types,
// handler signatures, directives), never a function's body: an edit that
// changes bodies only leaves the generated code as it is, so hot reload
// skips generation for it (most of an edit-to-new-code loop is go build).

// shape is a digest of a Go file without its function bodies and comments,
// but with its //tether: and //go: lines.
type shape [sha256.Size]byte

// shapeOf reads path's shape; an error (a file that does not parse, or is
// gone) means the generator must look at it.
func shapeOf(path string) (shape, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return shape{}, err
	}
	var buf bytes.Buffer
	buf.WriteString(f.Name.Name + "\n")
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			if strings.HasPrefix(c.Text, "//tether:") || strings.HasPrefix(c.Text, "//go:") {
				buf.WriteString(c.Text + "\n")
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool { // comments and bodies out
		switch n := n.(type) {
		case *ast.FuncDecl:
			n.Body, n.Doc = nil, nil
		case *ast.GenDecl:
			n.Doc = nil
		case *ast.TypeSpec:
			n.Doc, n.Comment = nil, nil
		case *ast.ValueSpec:
			n.Doc, n.Comment = nil, nil
		case *ast.ImportSpec:
			n.Doc, n.Comment = nil, nil
		case *ast.Field:
			n.Doc, n.Comment = nil, nil
		}
		return true
	})
	cfg := printer.Config{Mode: printer.RawFormat}
	for _, d := range f.Decls {
		if err := cfg.Fprint(&buf, fset, d); err != nil {
			return shape{}, err
		}
		buf.WriteByte('\n')
	}
	return sha256.Sum256(buf.Bytes()), nil
}

// recordShapes records the shape of every Go source under the targets, as
// the generator last saw them (at start).
func (s *server) recordShapes() {
	shapes := map[string]shape{}
	for _, t := range s.targets {
		_ = filepath.WalkDir(t.dir, func(path string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return nil
			case d.IsDir():
				if path != t.dir && s.skipDir(path) {
					return filepath.SkipDir
				}
			case strings.HasSuffix(path, ".go") && relevant(path):
				if sh, err := shapeOf(path); err == nil {
					shapes[path] = sh
				}
			}
			return nil
		})
	}
	s.shapes = shapes
}

// needGenerate reports whether generation may produce other code after the
// changes in paths, and the shapes to record once it ran: false when every
// changed Go file's declarations are as generation last saw them.
func (s *server) needGenerate(paths map[string]bool) (bool, map[string]shape) {
	need := false
	now := map[string]shape{}
	for path := range paths {
		base := filepath.Base(path)
		switch {
		case base == "go.mod" || base == "go.sum":
			need = true
		case strings.HasSuffix(base, ".go"):
			sh, err := shapeOf(path)
			old, known := s.shapes[path]
			if err != nil || !known || sh != old {
				need = true
			}
			if err == nil {
				now[path] = sh
			}
		}
	}
	return need, now
}
