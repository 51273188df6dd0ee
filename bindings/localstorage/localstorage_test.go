package localstorage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/localstorage"
	"github.com/tetherfn/tether/bindings/memory"
)

func TestConformance(t *testing.T) {
	bindingtest.RunOutput(t, bindingtest.Config{
		Type: localstorage.TypeName,
		Metadata: func(t *testing.T) map[string]string {
			return map[string]string{"rootPath": t.TempDir()}
		},
		InvalidMetadata: []map[string]string{
			{"rootPath": ""},
			{"rootPath": "/proc/self"},
			{"rootPath": "/sys/kernel/tether"}, // does not exist: still refused
			{"decodeBase64": "maybe"},
		},
	})
}

// open opens an output on a fresh root and returns it with the root's path.
func open(t *testing.T, md map[string]string) (bindings.Output, string) {
	t.Helper()
	root := t.TempDir()
	values := map[string]string{"rootPath": root}
	for k, v := range md {
		values[k] = v
	}
	out, _, err := bindings.OpenOutput(context.Background(), bindings.Config{Name: "files", Type: localstorage.TypeName, Metadata: values})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	return out, root
}

func invoke(t *testing.T, out bindings.Output, op bindings.Operation, data []byte, md map[string]string) (*bindings.InvokeResponse, error) {
	t.Helper()
	return out.Invoke(context.Background(), &bindings.InvokeRequest{Operation: op, Data: data, Metadata: md})
}

func TestOperations(t *testing.T) {
	out, root := open(t, nil)

	// Bytes in, bytes out: data that looks like base64 or a quoted string is
	// stored as it is, and so is every byte value.
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for name, data := range map[string][]byte{
		"b64.txt":          []byte("aGVsbG8="),
		"quoted.txt":       []byte(`"hello"`),
		"dir/sub/all.bin":  all,
		"empty":            {},
		"spaces in name.x": []byte("ok"),
	} {
		resp, err := invoke(t, out, bindings.OpCreate, data, map[string]string{"fileName": name})
		if err != nil {
			t.Fatalf("create %q: %v", name, err)
		}
		var answer struct{ FileName string }
		if err := json.Unmarshal(resp.Data, &answer); err != nil || answer.FileName != name || resp.Metadata["fileName"] != name {
			t.Errorf("create %q answered %s, metadata %v (%v)", name, resp.Data, resp.Metadata, err)
		}
		onDisk, err := os.ReadFile(filepath.Join(root, name))
		if err != nil || !bytes.Equal(onDisk, data) {
			t.Errorf("%q on disk = %q, %v; want %q", name, onDisk, err, data)
		}
		resp, err = invoke(t, out, bindings.OpGet, nil, map[string]string{"fileName": name})
		if err != nil || !bytes.Equal(resp.Data, data) || resp.Data == nil {
			t.Errorf("get %q = %q, %v; want %q", name, resp.Data, err, data)
		}
	}

	// Overwrite.
	if _, err := invoke(t, out, bindings.OpCreate, []byte("v2"), map[string]string{"fileName": "b64.txt"}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := invoke(t, out, bindings.OpGet, nil, map[string]string{"fileName": "b64.txt"}); string(resp.Data) != "v2" {
		t.Errorf("after overwrite: %q", resp.Data)
	}

	// Without a name: a new UUID.
	resp, err := invoke(t, out, bindings.OpCreate, []byte("anon"), nil)
	if err != nil {
		t.Fatal(err)
	}
	anon := resp.Metadata["fileName"]
	if _, err := uuid.Parse(anon); err != nil {
		t.Errorf("create without fileName named the file %q, want a UUID", anon)
	}

	list := func(dir string) []string {
		t.Helper()
		md := map[string]string{}
		if dir != "" {
			md["fileName"] = dir
		}
		resp, err := invoke(t, out, bindings.OpList, nil, md)
		if err != nil {
			t.Fatalf("list %q: %v", dir, err)
		}
		var names []string
		if err := json.Unmarshal(resp.Data, &names); err != nil {
			t.Fatal(err)
		}
		return names
	}
	want := []string{anon, "b64.txt", "dir/sub/all.bin", "empty", "quoted.txt", "spaces in name.x"}
	slices.Sort(want)
	if got := list(""); !slices.Equal(got, want) {
		t.Errorf("list = %q, want %q", got, want)
	}
	if got := list("dir"); !slices.Equal(got, []string{"dir/sub/all.bin"}) {
		t.Errorf("list dir = %q: want names relative to the root, usable with get", got)
	}

	if _, err := invoke(t, out, bindings.OpDelete, nil, map[string]string{"fileName": "empty"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "empty")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("deleted file still there: %v", err)
	}
	for _, op := range []bindings.Operation{bindings.OpGet, bindings.OpDelete} {
		_, err := invoke(t, out, op, nil, map[string]string{"fileName": "empty"})
		if !errors.Is(err, bindings.ErrNotFound) {
			t.Errorf("%s of a missing file = %v, want bindings.ErrNotFound", op, err)
		}
	}
	if _, err := invoke(t, out, bindings.OpList, nil, map[string]string{"fileName": "nodir"}); !errors.Is(err, bindings.ErrNotFound) {
		t.Errorf("list of a missing directory = %v, want bindings.ErrNotFound", err)
	}
	if _, err := invoke(t, out, bindings.OpGet, nil, nil); !errors.Is(err, localstorage.ErrBadName) {
		t.Errorf("get without fileName = %v, want ErrBadName", err)
	}
}

func TestDecodeBase64OnlyWhenAsked(t *testing.T) {
	out, root := open(t, nil)
	if _, err := invoke(t, out, bindings.OpCreate, []byte("aGVsbG8="), map[string]string{"fileName": "a", "decodeBase64": "true"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "a")); string(b) != "hello" {
		t.Errorf("decodeBase64 request wrote %q, want hello", b)
	}
	_, err := invoke(t, out, bindings.OpCreate, []byte("not base64!"), map[string]string{"fileName": "b", "decodeBase64": "true"})
	if err == nil || !strings.Contains(err.Error(), "not base64") {
		t.Errorf("bad base64 with decodeBase64 = %v, want an error", err)
	}
	if _, err := os.Stat(filepath.Join(root, "b")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a failed create left a file")
	}

	// The component's setting, and a request turning it off again.
	out, root = open(t, map[string]string{"decodeBase64": "true"})
	invoke(t, out, bindings.OpCreate, []byte("aGVsbG8="), map[string]string{"fileName": "c"})
	invoke(t, out, bindings.OpCreate, []byte("aGVsbG8="), map[string]string{"fileName": "d", "decodeBase64": "false"})
	c, _ := os.ReadFile(filepath.Join(root, "c"))
	d, _ := os.ReadFile(filepath.Join(root, "d"))
	if string(c) != "hello" || string(d) != "aGVsbG8=" {
		t.Errorf("component decodeBase64: c = %q (want hello), d = %q (want aGVsbG8=)", c, d)
	}
}

// TestConfinement: no operation reaches a file outside the root, whether by
// "..", an absolute name or a symbolic link.
func TestConfinement(t *testing.T) {
	out, root := open(t, nil)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("top secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Links inside the root that lead out: to a file and to a directory.
	if err := os.Symlink(secret, filepath.Join(root, "filelink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "dirlink")); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(root, secret)
	// A relative link is what os.Root would follow if it stayed inside.
	if err := os.Symlink(rel, filepath.Join(root, "rellink")); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		what, name string
		ops        []bindings.Operation
	}{
		{"dot-dot", rel, []bindings.Operation{bindings.OpCreate, bindings.OpGet, bindings.OpDelete, bindings.OpList}},
		{"dot-dot inside a name", "a/../../" + filepath.Base(outside) + "/secret", []bindings.Operation{bindings.OpCreate, bindings.OpGet, bindings.OpDelete}},
		{"dot-dot that stays inside", "a/../b", []bindings.Operation{bindings.OpCreate, bindings.OpGet}},
		{"absolute", secret, []bindings.Operation{bindings.OpCreate, bindings.OpGet, bindings.OpDelete, bindings.OpList}},
		{"absolute symlink to a file outside", "filelink", []bindings.Operation{bindings.OpGet}},
		{"relative symlink to a file outside", "rellink", []bindings.Operation{bindings.OpGet}},
		{"through a symlinked directory", "dirlink/secret", []bindings.Operation{bindings.OpCreate, bindings.OpGet, bindings.OpDelete}},
		{"list through a symlinked directory", "dirlink", []bindings.Operation{bindings.OpList}},
	}
	for _, c := range cases {
		for _, op := range c.ops {
			resp, err := invoke(t, out, op, []byte("overwritten"), map[string]string{"fileName": c.name})
			if err == nil {
				t.Errorf("%s %s (%q) succeeded: %s", c.what, op, c.name, resp.Data)
			} else {
				t.Logf("%s %s: %v", c.what, op, err)
			}
			if resp != nil && bytes.Contains(resp.Data, []byte("top secret")) {
				t.Errorf("%s %s leaked the file outside the root", c.what, op)
			}
		}
	}
	// Creating over a link replaces the link inside the root; it never
	// writes through it.
	if _, err := invoke(t, out, bindings.OpCreate, []byte("replaced"), map[string]string{"fileName": "rellink"}); err != nil {
		t.Errorf("create over a link: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(root, "rellink")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("create over a link left %v, %v; want a regular file", fi, err)
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "top secret" {
		t.Errorf("the file outside the root was changed or removed: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(outside, "a")); err == nil {
		t.Error("a directory was created outside the root")
	}

	// A symlink that stays inside the root is followed; deleting a link
	// removes the link, never what it points to.
	if err := os.WriteFile(filepath.Join(root, "real"), []byte("inside"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(root, "innerlink")); err != nil {
		t.Fatal(err)
	}
	if resp, err := invoke(t, out, bindings.OpGet, nil, map[string]string{"fileName": "innerlink"}); err != nil || string(resp.Data) != "inside" {
		t.Errorf("get through a link inside the root = %v, %v", resp, err)
	}
	if _, err := invoke(t, out, bindings.OpDelete, nil, map[string]string{"fileName": "filelink"}); err != nil {
		t.Errorf("delete of a link: %v", err)
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("deleting a link removed its target: %v", err)
	}
}

func TestRootIsCreatedAndResolved(t *testing.T) {
	base := t.TempDir()
	if err := os.Symlink("/proc", filepath.Join(base, "sneaky")); err != nil {
		t.Fatal(err)
	}
	_, _, err := bindings.OpenOutput(context.Background(), bindings.Config{Name: "f", Type: localstorage.TypeName,
		Metadata: map[string]string{"rootPath": filepath.Join(base, "sneaky", "self")}})
	if err == nil || !strings.Contains(err.Error(), "/proc") {
		t.Errorf("a rootPath through a link into /proc opened: %v", err)
	}
	deep := filepath.Join(base, "x", "y")
	out, _, err := bindings.OpenOutput(context.Background(), bindings.Config{Name: "f", Type: localstorage.TypeName,
		Metadata: map[string]string{"rootPath": deep}})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if fi, err := os.Stat(deep); err != nil || !fi.IsDir() {
		t.Errorf("rootPath not created: %v", err)
	}
	out.Close()
	if _, err := invoke(t, out, bindings.OpGet, nil, map[string]string{"fileName": "x"}); !errors.Is(err, bindings.ErrClosed) {
		t.Errorf("get after Close = %v, want bindings.ErrClosed", err)
	}
}

func TestClient(t *testing.T) {
	out, _ := open(t, nil)
	typ, _ := bindings.Lookup(localstorage.TypeName)
	var c localstorage.Client
	if err := c.BindOutput(bindings.OutputBinding{Name: "files", Type: typ, Output: out}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	name, err := c.Create(ctx, "reports/1.csv", []byte("a,b\n"))
	if err != nil || name != "reports/1.csv" {
		t.Fatalf("Create = %q, %v", name, err)
	}
	anon, err := c.Create(ctx, "", []byte("x"))
	if err != nil || anon == "" {
		t.Fatalf("Create without a name = %q, %v", anon, err)
	}
	data, err := c.Get(ctx, name)
	if err != nil || string(data) != "a,b\n" {
		t.Errorf("Get = %q, %v", data, err)
	}
	names, err := c.List(ctx, "reports")
	if err != nil || !slices.Equal(names, []string{"reports/1.csv"}) {
		t.Errorf("List = %q, %v", names, err)
	}
	if err := c.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, name); !errors.Is(err, bindings.ErrNotFound) {
		t.Errorf("Get after Delete = %v, want bindings.ErrNotFound", err)
	}
	if _, err := c.Get(ctx, "../x"); !errors.Is(err, localstorage.ErrBadName) {
		t.Errorf("Get(../x) = %v, want ErrBadName", err)
	}
	var be *bindings.Error
	if _, err := c.Get(ctx, "missing"); !errors.As(err, &be) || be.Binding != "files" {
		t.Errorf("errors are not wrapped with the binding: %v", err)
	}

	// Another type is refused, naming the component and both types.
	memType, _ := bindings.Lookup(memory.TypeName)
	err = new(localstorage.Client).BindOutput(bindings.OutputBinding{Name: "queue", Type: memType, Output: out})
	if err == nil || !strings.Contains(err.Error(), `"queue"`) || !strings.Contains(err.Error(), memory.TypeName) || !strings.Contains(err.Error(), localstorage.TypeName) {
		t.Errorf("binding a memory component = %v", err)
	}
	var unbound localstorage.Client
	if _, err := unbound.Get(ctx, "x"); err == nil {
		t.Error("an unbound client worked")
	}
}
