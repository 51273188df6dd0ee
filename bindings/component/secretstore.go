package component

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/suggest"
)

// The secret store types Tether reads. A component of another secretstores.*
// type is skipped with an info line, and naming it in auth.secretStore is an
// error.
const (
	StoreEnv       = "secretstores.local.env"
	StoreFile      = "secretstores.local.file"
	StoreDirectory = "secretstores.local.directory"
)

// secretStore is an opened secret store. Its errors say what is missing and
// where it was looked for, never a value.
type secretStore interface {
	// get returns the value of key in the secret called name; key "" means
	// the store's default key (for Dapr's stores, the secret's name).
	get(name, key string) (string, error)
}

// storeType declares a secret store type: its metadata keys, validated like
// a binding's, and how to open it.
type storeType struct {
	keys []bindings.MetadataKey
	open func(values map[string]string, env *storeEnv) (secretStore, *bindings.KeyError)
}

// storeEnv is what opening a store may depend on besides its metadata.
type storeEnv struct {
	file      string // the component file, for paths relative to it
	lookupEnv func(string) (string, bool)
}

var storeTypes = map[string]*storeType{
	StoreEnv: {
		keys: []bindings.MetadataKey{
			{Name: "prefix", Description: "Prepended to every secret name to form the environment variable's name."},
		},
		open: func(v map[string]string, env *storeEnv) (secretStore, *bindings.KeyError) {
			return &envStore{prefix: v["prefix"], lookupEnv: env.lookupEnv}, nil
		},
	},
	StoreFile: {
		keys: []bindings.MetadataKey{
			{Name: "secretsFile", Required: true, Description: "Path of the JSON file holding the secrets, relative to the working directory (or, failing that, to the component file)."},
			{Name: "nestedSeparator", Default: ":", Description: "Joins the keys of nested JSON objects into one secret name."},
			{Name: "multiValued", Kind: bindings.KindBool, Default: "false", Description: "Top-level keys are secrets whose nested keys are that secret's keys."},
		},
		open: openFileStore,
	},
	StoreDirectory: {
		keys: []bindings.MetadataKey{
			{Name: "path", Required: true, Description: "Folder holding one sub-folder per secret and one file per key, as Kubernetes mounts secrets."},
		},
		open: openDirectoryStore,
	},
}

func storeTypeNames() []string { return slices.Sorted(maps.Keys(storeTypes)) }

// validateStore checks a store component's metadata as bindings.Validate
// checks a binding's: unknown keys (with a suggestion), values of the wrong
// kind, missing required keys; it applies defaults and canonical names.
func validateStore(typeName string, t *storeType, values map[string]string) (map[string]string, []*bindings.KeyError) {
	names := make([]string, len(t.keys))
	for i, k := range t.keys {
		names[i] = k.Name
	}
	out := map[string]string{}
	var problems []*bindings.KeyError
	for _, w := range slices.Sorted(maps.Keys(values)) {
		k, ok := findKey(t.keys, w)
		if !ok {
			problems = append(problems, &bindings.KeyError{Key: w, Msg: "unknown key for " + typeName + suggest.Hint(w, names)})
			continue
		}
		if err := k.Check(values[w]); err != nil {
			problems = append(problems, &bindings.KeyError{Key: w, Msg: err.Error()})
			continue
		}
		out[k.Name] = values[w]
	}
	for _, k := range t.keys {
		if _, ok := out[k.Name]; ok {
			continue
		}
		if k.Required && !slices.ContainsFunc(slices.Collect(maps.Keys(values)), func(w string) bool { return strings.EqualFold(w, k.Name) }) {
			problems = append(problems, &bindings.KeyError{Msg: fmt.Sprintf("missing required metadata %q (%s)", k.Name, k.Description)})
		} else if k.Default != "" {
			out[k.Name] = k.Default
		}
	}
	return out, problems
}

// findKey finds a declared key by name, case-insensitively as Dapr does.
func findKey(keys []bindings.MetadataKey, name string) (bindings.MetadataKey, bool) {
	i := slices.IndexFunc(keys, func(k bindings.MetadataKey) bool { return strings.EqualFold(k.Name, name) })
	if i < 0 {
		return bindings.MetadataKey{}, false
	}
	return keys[i], true
}

// envStore reads secrets from environment variables, as Dapr's
// secretstores.local.env: a secret has one key, named like the secret.
type envStore struct {
	prefix    string
	lookupEnv func(string) (string, bool)
}

func (s *envStore) get(name, key string) (string, error) {
	if key != "" && key != name {
		return "", fmt.Errorf("its secrets have a single key, named like the secret (%q)", name)
	}
	v := s.prefix + name
	if reservedEnv(v) {
		// As in Dapr: these hold API tokens, which a component must not
		// read (an output would then carry the token to its host).
		return "", fmt.Errorf("environment variable %q is reserved (APP_API_TOKEN, TETHER_API_TOKEN, TETHER_APP_TOKEN and DAPR_* are not readable as secrets)", v)
	}
	val, ok := s.lookupEnv(v)
	if !ok {
		return "", fmt.Errorf("environment variable %q is not set", v)
	}
	return val, nil
}

// reservedEnv reports whether the environment variable name holds one of
// the runtime's API tokens (Dapr's and Tether's).
func reservedEnv(name string) bool {
	u := strings.ToUpper(name)
	return u == "APP_API_TOKEN" || u == "TETHER_API_TOKEN" || u == "TETHER_APP_TOKEN" || strings.HasPrefix(u, "DAPR_")
}

// fileStore holds the secrets of a JSON file, as Dapr's
// secretstores.local.file: secret name → key → value.
type fileStore struct {
	secrets map[string]map[string]string
}

func (s *fileStore) get(name, key string) (string, error) {
	secret, ok := s.secrets[name]
	if !ok {
		return "", fmt.Errorf("the file has no secret %q%s", name, suggest.Hint(name, slices.Collect(maps.Keys(s.secrets))))
	}
	if key == "" {
		key = name
	}
	v, ok := secret[key]
	if !ok {
		return "", fmt.Errorf("secret %q has no key %q%s", name, key, suggest.Hint(key, slices.Collect(maps.Keys(secret))))
	}
	return v, nil
}

// Bounds on what a store reads, so that a path naming something huge (or
// endless, like a device) fails cleanly.
const (
	maxSecretsFile = 16 << 20
	maxSecretValue = 1 << 20 // Kubernetes' limit on a whole Secret
)

func openFileStore(v map[string]string, env *storeEnv) (secretStore, *bindings.KeyError) {
	path := resolvePath(v["secretsFile"], env.file)
	data, err := readFile(path, maxSecretsFile)
	if err != nil {
		return nil, &bindings.KeyError{Key: "secretsFile", Msg: err.Error()}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // keep numbers as written, not as float64
	var top any
	err = dec.Decode(&top)
	if err == nil && dec.More() {
		err = errors.New("trailing data")
	}
	if err != nil {
		// Never quote the decoder's message: it shows file content, and
		// the file holds secrets.
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
			return nil, &bindings.KeyError{Key: "secretsFile", Msg: fmt.Sprintf("is not valid JSON (line %d)", line)}
		}
		return nil, &bindings.KeyError{Key: "secretsFile", Msg: "is not valid JSON"}
	}
	obj, ok := top.(map[string]any)
	if !ok {
		return nil, &bindings.KeyError{Key: "secretsFile", Msg: "must hold a JSON object"}
	}
	sep := v["nestedSeparator"]
	multi, _ := strconv.ParseBool(v["multiValued"])
	s := &fileStore{secrets: map[string]map[string]string{}}
	if !multi {
		// Every leaf is a secret whose name is its path, with one key.
		flat := map[string]string{}
		if dup := flatten("", obj, sep, flat); dup != "" {
			return nil, &bindings.KeyError{Key: "secretsFile", Msg: fmt.Sprintf("two values flatten to the same secret name %q", dup)}
		}
		for name, val := range flat {
			s.secrets[name] = map[string]string{name: val}
		}
		return s, nil
	}
	// Each top-level key is a secret; what is under it, flattened, its keys.
	for name, x := range obj {
		secret := map[string]string{}
		switch x.(type) {
		case map[string]any, []any:
			if dup := flatten("", x, sep, secret); dup != "" {
				return nil, &bindings.KeyError{Key: "secretsFile", Msg: fmt.Sprintf("secret %q: two values flatten to the same key %q", name, dup)}
			}
		default:
			flatten(name, x, sep, secret)
		}
		s.secrets[name] = secret
	}
	return s, nil
}

// flatten adds the leaves of x to out under their paths joined with sep,
// and returns a path met twice ("" when none).
func flatten(path string, x any, sep string, out map[string]string) string {
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + sep + k
	}
	switch x := x.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if dup := flatten(join(k), x[k], sep, out); dup != "" {
				return dup
			}
		}
		return ""
	case []any:
		for i, y := range x {
			if dup := flatten(join(strconv.Itoa(i)), y, sep, out); dup != "" {
				return dup
			}
		}
		return ""
	}
	if _, dup := out[path]; dup {
		return path
	}
	switch x := x.(type) {
	case string:
		out[path] = x
	case json.Number:
		out[path] = x.String()
	case bool:
		out[path] = strconv.FormatBool(x)
	default: // null
		out[path] = ""
	}
	return ""
}

// dirStore reads secrets from files, as Kubernetes mounts them: the value
// of key in secret name is the content of <path>/<name>/<key>, byte for
// byte. Without a key, <path>/<name> itself is the file (Docker's
// /run/secrets layout).
type dirStore struct {
	path string
}

func (s *dirStore) get(name, key string) (string, error) {
	if !isPlainName(name) {
		return "", fmt.Errorf("secret name %q is not a plain file name", name)
	}
	p := filepath.Join(s.path, name)
	if key != "" {
		if !isPlainName(key) {
			return "", fmt.Errorf("key %q is not a plain file name", key)
		}
		p = filepath.Join(p, key)
	}
	data, err := readFile(p, maxSecretValue)
	if err != nil {
		return "", fmt.Errorf("%s %v", p, err)
	}
	return string(data), nil
}

// isPlainName reports whether s names a file inside a folder, never the
// folder itself or anything outside it.
func isPlainName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\\\x00")
}

func openDirectoryStore(v map[string]string, env *storeEnv) (secretStore, *bindings.KeyError) {
	path := resolvePath(v["path"], env.file)
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return nil, &bindings.KeyError{Key: "path", Msg: describeFSError(err)}
	case !fi.IsDir():
		return nil, &bindings.KeyError{Key: "path", Msg: "is not a folder"}
	}
	return &dirStore{path: path}, nil
}

// resolvePath finds a relative path as Dapr does, from the working
// directory, and failing that from the component file's folder, so that a
// components folder can carry its own local secrets wherever it is run from.
func resolvePath(p, componentFile string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if alt := filepath.Join(filepath.Dir(componentFile), p); alt != p {
		if _, err := os.Stat(alt); err == nil {
			return alt
		}
	}
	return p
}

// readFile reads a regular file of at most limit bytes. Its errors do not
// repeat the path.
func readFile(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, errors.New(describeFSError(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("is not a regular file")
	}
	if fi.Size() > limit {
		return nil, &tooLargeError{limit}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, errors.New(describeFSError(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, errors.New(describeFSError(err))
	}
	if int64(len(data)) > limit {
		return nil, &tooLargeError{limit}
	}
	return data, nil
}

// tooLargeError: a file over the limit readFile was given.
type tooLargeError struct{ limit int64 }

func (e *tooLargeError) Error() string { return fmt.Sprintf("is larger than %d bytes", e.limit) }

func describeFSError(err error) string {
	if errors.Is(err, fs.ErrNotExist) {
		return "does not exist"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return "cannot be read: " + pe.Err.Error()
	}
	return "cannot be read: " + err.Error()
}
