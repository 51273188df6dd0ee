package gen

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Changed returns the files whose content differs from the disk: new or
// changed files, and generated files to remove that still exist.
func Changed(files []File) ([]File, error) {
	var out []File
	for _, f := range files {
		old, err := os.ReadFile(f.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if f.Content != nil {
				out = append(out, f)
			}
		case err != nil:
			return nil, err
		case f.Content == nil || !bytes.Equal(old, f.Content):
			out = append(out, f)
		}
	}
	return out, nil
}

// Write brings the disk in line with files: it writes new and changed files
// (creating folders as needed), removes the files to remove (and their
// folder, when that leaves it empty), and leaves identical files untouched.
// It returns the files it changed.
func Write(files []File) ([]File, error) {
	changed, err := Changed(files)
	if err != nil {
		return nil, err
	}
	for _, f := range changed {
		if f.Content == nil {
			if err := os.Remove(f.Path); err != nil {
				return nil, fmt.Errorf("remove stale %s: %w", f.Path, err)
			}
			_ = os.Remove(filepath.Dir(f.Path)) // only succeeds when empty
			continue
		}
		if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(f.Path, f.Content, 0o644); err != nil {
			return nil, err
		}
	}
	return changed, nil
}

// Diff returns a unified diff from the disk to files, with paths relative
// to base; empty when nothing would change.
func Diff(files []File, base string) ([]byte, error) {
	changed, err := Changed(files)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for _, f := range changed {
		name := f.Path
		if rel, err := filepath.Rel(base, f.Path); err == nil && !strings.HasPrefix(rel, "..") {
			name = filepath.ToSlash(rel)
		}
		old, err := os.ReadFile(f.Path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		from, to := "a/"+name, "b/"+name
		if old == nil {
			from = "/dev/null"
		}
		if f.Content == nil {
			to = "/dev/null"
		}
		fmt.Fprintf(&buf, "--- %s\n+++ %s\n", from, to)
		unified(&buf, splitLines(old), splitLines(f.Content), 3)
	}
	return buf.Bytes(), nil
}

func splitLines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// edit is one line of a diff: ' ' kept, '-' removed, '+' added.
type edit struct {
	op   byte
	line string
}

// lineEdits computes a shortest edit script from a to b by longest common
// subsequence. Generated files are small, so the quadratic table is fine.
func lineEdits(a, b []string) []edit {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []edit
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			out = append(out, edit{' ', a[i]})
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, edit{'-', a[i]})
			i++
		default:
			out = append(out, edit{'+', b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, edit{'-', a[i]})
	}
	for ; j < m; j++ {
		out = append(out, edit{'+', b[j]})
	}
	return out
}

// unified writes the hunks of the diff from a to b with ctx lines of
// context around each change.
func unified(buf *bytes.Buffer, a, b []string, ctx int) {
	edits := lineEdits(a, b)
	for start := 0; start < len(edits); {
		// Find the next change.
		for start < len(edits) && edits[start].op == ' ' {
			start++
		}
		if start == len(edits) {
			return
		}
		// Extend the hunk while changes are less than 2*ctx lines apart.
		end := start
		for k := start; k < len(edits); k++ {
			if edits[k].op != ' ' {
				end = k + 1
			} else if k-end >= 2*ctx {
				break
			}
		}
		lo, hi := max(start-ctx, 0), min(end+ctx, len(edits))
		// Line numbers where the hunk starts, in a and in b.
		aLine, bLine := 1, 1
		for _, e := range edits[:lo] {
			if e.op != '+' {
				aLine++
			}
			if e.op != '-' {
				bLine++
			}
		}
		var aN, bN int
		for _, e := range edits[lo:hi] {
			if e.op != '+' {
				aN++
			}
			if e.op != '-' {
				bN++
			}
		}
		if aN == 0 {
			aLine--
		}
		if bN == 0 {
			bLine--
		}
		fmt.Fprintf(buf, "@@ -%d,%d +%d,%d @@\n", aLine, aN, bLine, bN)
		for _, e := range edits[lo:hi] {
			buf.WriteByte(e.op)
			buf.WriteString(e.line)
			if !strings.HasSuffix(e.line, "\n") {
				buf.WriteString("\n\\ No newline at end of file\n")
			}
		}
		start = hi
	}
}
