package main

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// directive marks a benchmark for the report; see CONTRIBUTING.md.
const directive = "//tether:bench"

// suite is one benchmark the report runs: a func BenchmarkX in a _test.go
// file whose doc comment ends with a //tether:bench line.
type suite struct {
	// Pkg is the package's folder relative to the module root, slashed
	// ("bindings/redis"); Dir the absolute folder.
	Pkg, Dir string
	// Bench is the function's name.
	Bench string
	// Synopsis is the first sentence of its doc comment.
	Synopsis string
	// Benchtime is -benchtime in a full run, Quick in a -quick one.
	Benchtime, Quick string
	// Count is -count: runs of the benchmark in its one process, each
	// giving one sample of a reported ratio (pairs give one per round).
	Count int
	// Pos is the directive's file:line, for errors.
	Pos string
}

// Name is what -bindings matches: the package's last element.
func (s suite) Name() string { return filepath.Base(s.Pkg) }

var benchtimeRE = regexp.MustCompile(`^\d+x$`)

// discover finds the marked benchmarks under root, sorted by package and
// name. Every malformed directive is reported, with its file:line.
func discover(root string) ([]suite, error) {
	var suites []suite
	var errs []error
	err := walkTestFiles(root, func(p string, src []byte) {
		if !bytes.Contains(src, []byte(directive)) {
			return
		}
		found, ferrs := discoverFile(root, p, src)
		suites = append(suites, found...)
		errs = append(errs, ferrs...)
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(suites, func(a, b suite) int {
		return strings.Compare(a.Pkg+" "+a.Bench, b.Pkg+" "+b.Bench)
	})
	return suites, errors.Join(errs...)
}

// walkTestFiles calls fn with each _test.go file under root and its
// source, skipping the folders the go command ignores (testdata, vendor,
// and those whose names start with . or _).
func walkTestFiles(root string, fn func(path string, src []byte)) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			n := d.Name()
			if p != root && (strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_") || n == "testdata" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fn(p, src)
		return nil
	})
}

func discoverFile(root, file string, src []byte) ([]suite, []error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.ParseComments)
	if err != nil {
		return nil, []error{err}
	}
	rel, _ := filepath.Rel(root, filepath.Dir(file))
	var suites []suite
	var errs []error
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Doc == nil || fn.Recv != nil {
			continue
		}
		for _, c := range fn.Doc.List {
			if c.Text != directive && !strings.HasPrefix(c.Text, directive+" ") {
				continue
			}
			pos := fset.Position(c.Pos())
			where := fmt.Sprintf("%s:%d", pos.Filename, pos.Line)
			if !strings.HasPrefix(fn.Name.Name, "Benchmark") {
				errs = append(errs, fmt.Errorf("%s: %s on %s, which is not a benchmark", where, directive, fn.Name.Name))
				continue
			}
			s, err := parseDirective(strings.TrimPrefix(c.Text, directive))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
				continue
			}
			s.Pkg, s.Dir, s.Bench, s.Pos = filepath.ToSlash(rel), filepath.Dir(file), fn.Name.Name, where
			s.Synopsis = new(doc.Package).Synopsis(fn.Doc.Text())
			suites = append(suites, s)
		}
	}
	return suites, errs
}

// parseDirective reads "benchtime=100000x quick=20000x count=3".
func parseDirective(args string) (suite, error) {
	s := suite{Count: 1}
	for _, kv := range strings.Fields(args) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return s, fmt.Errorf("%q: want key=value (benchtime, quick, count)", kv)
		}
		switch k {
		case "benchtime", "quick":
			if !benchtimeRE.MatchString(v) {
				if _, err := time.ParseDuration(v); err != nil {
					return s, fmt.Errorf("%s=%q: want a count (100000x) or a duration (2s)", k, v)
				}
			}
			if k == "benchtime" {
				s.Benchtime = v
			} else {
				s.Quick = v
			}
		case "count":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return s, fmt.Errorf("count=%q: want a positive number", v)
			}
			s.Count = n
		default:
			return s, fmt.Errorf("unknown key %q (benchtime, quick, count)", k)
		}
	}
	if s.Benchtime == "" {
		return s, errors.New("benchtime is required (the -benchtime of a full run, e.g. benchtime=100000x)")
	}
	if s.Quick == "" {
		s.Quick = s.Benchtime
	}
	return s, nil
}
