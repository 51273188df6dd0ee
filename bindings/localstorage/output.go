package localstorage

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/tetherfn/tether/bindings"
)

// tmpPrefix starts the names of files being written; list skips them and
// requests may not name them.
const tmpPrefix = ".tether-tmp-"

// output runs the operations of one component on its root directory.
type output struct {
	root         *os.Root
	rootPath     string
	decodeBase64 bool
	closed       atomic.Bool
	closeOnce    sync.Once
}

func newOutput(cfg bindings.Config) (*output, error) {
	md := cfg.Values()
	rootPath, err := resolveRoot(md.String("rootPath"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(rootPath, 0o777); err != nil {
		return nil, fmt.Errorf("create rootPath: %w", err)
	}
	root, err := os.OpenRoot(rootPath)
	if err != nil {
		return nil, fmt.Errorf("open rootPath: %w", err)
	}
	return &output{root: root, rootPath: rootPath, decodeBase64: md.Bool("decodeBase64")}, nil
}

// Invoke runs one operation; see docs/bindings/localstorage.md.
func (o *output) Invoke(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	if req == nil {
		return nil, errors.New("nil request")
	}
	if o.closed.Load() {
		return nil, bindings.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch req.Operation {
	case bindings.OpCreate:
		return o.create(req)
	case bindings.OpGet:
		return o.get(req)
	case bindings.OpList:
		return o.list(req)
	case bindings.OpDelete:
		return o.delete(req)
	}
	return nil, fmt.Errorf("%w %q", bindings.ErrUnsupportedOperation, req.Operation)
}

// create writes the file through a temporary file renamed into place, so a
// concurrent get sees the old content or the new one, never half of it.
func (o *output) create(req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	name := req.Metadata[MetaFileName]
	if name == "" {
		name = uuid.NewString()
	}
	name, err := cleanName(name, false)
	if err != nil {
		return nil, err
	}
	data := req.Data
	decode := o.decodeBase64
	if v, ok := req.Metadata[MetaDecodeBase64]; ok {
		if decode, err = strconv.ParseBool(v); err != nil {
			return nil, fmt.Errorf("metadata %q: %q is not a boolean", MetaDecodeBase64, v)
		}
	}
	if decode {
		if data, err = base64.StdEncoding.DecodeString(string(req.Data)); err != nil {
			return nil, fmt.Errorf("create %q: decodeBase64 is set, but the data is not base64: %w", name, err)
		}
	}
	if dir := path.Dir(name); dir != "." {
		if err := o.root.MkdirAll(dir, 0o777); err != nil {
			return nil, fmt.Errorf("create %q: %w", name, err)
		}
	}
	tmp := path.Join(path.Dir(name), tmpPrefix+rand.Text())
	f, err := o.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return nil, fmt.Errorf("create %q: %w", name, err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		o.root.Remove(tmp)
		return nil, fmt.Errorf("create %q: write: %w", name, err)
	}
	if err := o.root.Rename(tmp, name); err != nil {
		o.root.Remove(tmp)
		return nil, fmt.Errorf("create %q: %w", name, err)
	}
	// Dapr answers the name as JSON data; the metadata carries it too.
	body, _ := json.Marshal(map[string]string{MetaFileName: name})
	return &bindings.InvokeResponse{Data: body, ContentType: "application/json", Metadata: map[string]string{MetaFileName: name}}, nil
}

func (o *output) get(req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	name, err := cleanName(req.Metadata[MetaFileName], false)
	if err != nil {
		return nil, err
	}
	data, err := o.root.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", name, notFound(err))
	}
	if data == nil {
		data = []byte{} // an empty file is data, not "no data"
	}
	return &bindings.InvokeResponse{Data: data, Metadata: map[string]string{MetaFileName: name}}, nil
}

// list answers the names of the files below the directory in metadata
// fileName (default the root), relative to the root, as a JSON array.
func (o *output) list(req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	dir, err := cleanName(req.Metadata[MetaFileName], true)
	if err != nil {
		return nil, err
	}
	names := []string{}
	err = fs.WalkDir(o.root.FS(), dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || (len(d.Name()) > len(tmpPrefix) && d.Name()[:len(tmpPrefix)] == tmpPrefix) {
			return nil
		}
		names = append(names, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", dir, notFound(err))
	}
	body, _ := json.Marshal(names)
	return &bindings.InvokeResponse{Data: body, ContentType: "application/json"}, nil
}

func (o *output) delete(req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	name, err := cleanName(req.Metadata[MetaFileName], false)
	if err != nil {
		return nil, err
	}
	if err := o.root.Remove(name); err != nil {
		return nil, fmt.Errorf("delete %q: %w", name, notFound(err))
	}
	return nil, nil
}

// notFound adds bindings.ErrNotFound to a missing file's error, keeping the
// *fs.PathError reachable.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", bindings.ErrNotFound, err)
	}
	return err
}

func (o *output) Close() error {
	var err error
	o.closeOnce.Do(func() {
		o.closed.Store(true)
		err = o.root.Close()
	})
	return err
}
