package dev

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShape: an edit of a function's body or of a comment keeps a file's
// shape (generation is skipped); an edit of a declaration, a signature, a
// struct tag or a //tether: line changes it.
func TestShape(t *testing.T) {
	const src = `package p

// Person is the input.
type Person struct {
	Name string ` + "`json:\"name\"`" + `
}

//tether:function greet trigger=names
func Greet(ctx context.Context, p Person) error {
	return nil // a comment
}
`
	path := filepath.Join(t.TempDir(), "p.go")
	shapeAfter := func(from, to string) shape {
		t.Helper()
		edited := strings.Replace(src, from, to, 1)
		if edited == src && from != "" {
			t.Fatalf("%q is not in the source", from)
		}
		if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
			t.Fatal(err)
		}
		sh, err := shapeOf(path)
		if err != nil {
			t.Fatal(err)
		}
		return sh
	}
	base := shapeAfter("", "")
	for _, same := range [][2]string{
		{"return nil // a comment", "if p.Name == \"\" {\n\t\treturn nil\n\t}\n\treturn nil"},
		{"// Person is the input.", "// Person is who is greeted."},
		{"// a comment", ""},
	} {
		if shapeAfter(same[0], same[1]) != base {
			t.Errorf("%q → %q changed the shape", same[0], same[1])
		}
	}
	for _, other := range [][2]string{
		{"trigger=names", "trigger=people"},
		{"p Person) error", "p *Person) error"},
		{`json:"name"`, `json:"n"`},
		{"Name string", "Name, Nick string"},
	} {
		if shapeAfter(other[0], other[1]) == base {
			t.Errorf("%q → %q kept the shape", other[0], other[1])
		}
	}
	os.WriteFile(path, []byte("package p\nfunc {"), 0o644)
	if _, err := shapeOf(path); err == nil {
		t.Error("a file that does not parse has a shape")
	}
}
