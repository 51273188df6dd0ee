package dev

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/internal/emulate"
)

// The values of Options.Emulate.
const (
	// EmulateAuto emulates the components whose broker does not answer a
	// TCP dial, and those with no address (the cloud service itself).
	EmulateAuto = "auto"
	// EmulateAll emulates every component of an emulated type.
	EmulateAll = "all"
	// EmulateNone points every component where its file says.
	EmulateNone = "none"
)

// dialTimeout bounds the reachability check of one broker under auto.
const dialTimeout = 300 * time.Millisecond

// startEmulators starts the emulators for the components of fns that the
// mode picks (see internal/emulate), records each function's overrides,
// and returns the running set; nil when nothing is emulated.
func (s *server) startEmulators(ctx context.Context, fns []*function) (*emulate.Set, error) {
	mode := s.opts.Emulate
	switch mode {
	case "", EmulateAuto:
		mode = EmulateAuto
	case EmulateAll, EmulateNone:
	default:
		return nil, fmt.Errorf("--emulate %q: want auto, all or none", mode)
	}
	if mode == EmulateNone {
		return nil, nil
	}
	var candidates []*component.Component
	for _, f := range fns {
		for _, c := range f.set.Components() {
			if emulate.Covers(c.Binding.Name) {
				candidates = append(candidates, c)
			}
		}
	}
	picked := candidates
	if mode == EmulateAuto {
		picked = unreachable(ctx, candidates)
	}
	if len(picked) == 0 {
		return nil, nil
	}
	set, err := emulate.Start(ctx, picked, &emulate.Options{Dir: filepath.Join(s.opts.State, "emulators")})
	if err != nil {
		return nil, err
	}
	over := set.Overrides()
	for _, f := range fns {
		for _, c := range f.set.Components() {
			if md, ok := over[c.Name]; ok && slices.Contains(picked, c) {
				if f.overrides == nil {
					f.overrides = map[string]map[string]string{}
				}
				f.overrides[c.Name] = md
			}
		}
		if f.overrides != nil {
			f.emulated = filepath.Join(s.opts.State, "components", f.name)
			if err := f.writeEmulated(); err != nil {
				_ = set.Close()
				return nil, err
			}
		}
	}
	return set, nil
}

// unreachable returns the components of cs whose broker does not accept a
// TCP connection within dialTimeout, or that name none. The dials run
// together.
func unreachable(ctx context.Context, cs []*component.Component) []*component.Component {
	down := make([]bool, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		addr := brokerAddr(c.Binding.Name, c.Metadata)
		if addr == "" {
			down[i] = true
			continue
		}
		wg.Go(func() {
			d := net.Dialer{Timeout: dialTimeout}
			conn, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				down[i] = true
				return
			}
			conn.Close()
		})
	}
	wg.Wait()
	var out []*component.Component
	for i, c := range cs {
		if down[i] {
			out = append(out, c)
		}
	}
	return out
}

// addrKeys is the metadata key holding the broker's address, and its
// default port, by emulated type.
var addrKeys = map[string]struct {
	key  string
	port string
}{
	"bindings.kafka":      {"brokers", "9092"},
	"bindings.gcp.pubsub": {"endpoint", "443"},
	"bindings.nats":       {"natsURL", "4222"},
	"bindings.mqtt3":      {"url", "1883"},
	"bindings.redis":      {"redisHost", "6379"},
	"bindings.aws.sqs":    {"endpoint", "443"},
}

// brokerAddr is the host:port of the first broker md names, "" when none.
func brokerAddr(typ string, md map[string]string) string {
	k, ok := addrKeys[typ]
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(md[k.key], ",")
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	port := k.port
	if strings.Contains(v, "://") {
		u, err := url.Parse(v)
		if err != nil || u.Host == "" {
			return ""
		}
		switch u.Scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		case "ssl", "tls", "mqtts":
			port = "8883"
		}
		v = u.Host
	}
	if _, _, err := net.SplitHostPort(v); err != nil {
		v = net.JoinHostPort(v, port)
	}
	return v
}

// runComponents is the folder f's processes read their components from:
// under emulation, a copy of its folder with the overrides laid over.
func (f *function) runComponents() string {
	if f.emulated != "" {
		return f.emulated
	}
	return f.components
}

// writeEmulated writes f.emulated: every component file of f's folder,
// those holding an emulated component with its overrides in place. Values
// from secretKeyRef and envRef stay references (no secret is written), and
// the user's files are left as they are.
func (f *function) writeEmulated() error {
	if err := os.RemoveAll(f.emulated); err != nil {
		return err
	}
	if err := os.MkdirAll(f.emulated, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(f.components)
	if err != nil {
		return err
	}
	for _, e := range entries {
		src := filepath.Join(f.components, e.Name())
		if fi, err := os.Stat(src); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		dst := filepath.Join(f.emulated, e.Name())
		if ext := strings.ToLower(filepath.Ext(e.Name())); ext != ".yaml" && ext != ".yml" {
			// Other files (a local secret store's JSON) are linked, not
			// copied: no second copy of a secret, and paths relative to
			// the component file still resolve.
			if err := os.Symlink(src, dst); err != nil {
				return err
			}
			continue
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if data, err = overrideYAML(data, f.overrides); err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		if err := os.WriteFile(dst, data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// overrideYAML lays overrides (component name → key → value, "" removes)
// over the spec.metadata of the Components in data. data comes back as is
// when it holds none of them.
func overrideYAML(data []byte, overrides map[string]map[string]string) ([]byte, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	changed := false
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		docs = append(docs, &doc)
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		if lookup(root, "kind") == nil || lookup(root, "kind").Value != "Component" {
			continue
		}
		name := lookup(lookup(root, "metadata"), "name")
		if name == nil || overrides[name.Value] == nil {
			continue
		}
		spec := lookup(root, "spec")
		if spec == nil {
			continue
		}
		md := lookup(spec, "metadata")
		if md == nil {
			md = &yaml.Node{Kind: yaml.SequenceNode}
			spec.Content = append(spec.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "metadata"}, md)
		}
		over := overrides[name.Value]
		for _, key := range slices.Sorted(maps.Keys(over)) {
			md.Content = slices.DeleteFunc(md.Content, func(item *yaml.Node) bool {
				n := lookup(item, "name")
				return n != nil && strings.EqualFold(n.Value, key)
			})
			if v := over[key]; v != "" {
				md.Content = append(md.Content, &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
					{Kind: yaml.ScalarNode, Value: "name"}, {Kind: yaml.ScalarNode, Value: key},
					{Kind: yaml.ScalarNode, Value: "value"}, {Kind: yaml.ScalarNode, Value: v, Style: yaml.DoubleQuotedStyle},
				}})
			}
		}
		changed = true
	}
	if !changed {
		return data, nil
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return nil, err
		}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// lookup returns the value of key in the mapping m; nil when absent.
func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
