package gen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func numbered(from, to int, change map[int]string) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		if s, ok := change[i]; ok {
			b.WriteString(s)
			continue
		}
		b.WriteString("line " + string(rune('a'+i%26)) + "\n")
	}
	return b.String()
}

func TestWriteAndDiff(t *testing.T) {
	dir := t.TempDir()
	changed := filepath.Join(dir, "changed.go")
	same := filepath.Join(dir, "same.go")
	stale := filepath.Join(dir, "cmd", "old", "main_gen.go")
	added := filepath.Join(dir, "cmd", "new", "main_gen.go")
	for path, content := range map[string]string{
		changed: numbered(0, 20, nil),
		same:    "same\n",
		stale:   Header + "\n",
	} {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files := []File{
		{Path: changed, Content: []byte(numbered(0, 20, map[int]string{2: "two\n", 17: "", 18: "x\ny\n"}))},
		{Path: same, Content: []byte("same\n")},
		{Path: stale},
		{Path: added, Content: []byte("new\n")},
	}
	diff, err := Diff(files, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := `--- a/changed.go
+++ b/changed.go
@@ -1,6 +1,6 @@
 line a
 line b
-line c
+two
 line d
 line e
 line f
@@ -15,7 +15,7 @@
 line o
 line p
 line q
-line r
-line s
+x
+y
 line t
 line u
--- a/cmd/old/main_gen.go
+++ /dev/null
@@ -1,1 +0,0 @@
-` + Header + `
--- /dev/null
+++ b/cmd/new/main_gen.go
@@ -0,0 +1,1 @@
+new
`
	if string(diff) != want {
		t.Errorf("diff:\n%s\nwant:\n%s", diff, want)
	}

	done, err := Write(files)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 3 {
		t.Errorf("Write changed %d files, want 3 (the identical one untouched)", len(done))
	}
	if _, err := os.Stat(filepath.Dir(stale)); !os.IsNotExist(err) {
		t.Errorf("the stale main's folder is still there: %v", err)
	}
	if got, _ := os.ReadFile(added); string(got) != "new\n" {
		t.Errorf("added file holds %q", got)
	}
	if again, _ := Diff(files, dir); len(again) != 0 {
		t.Errorf("diff after Write:\n%s", again)
	}
}
