package deploy

import (
	"maps"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/tetherfn/tether/bindings/component"
)

// secretRef is a key of a Kubernetes Secret.
type secretRef struct{ secret, key string }

// secretPlan is how the secret references of a function's components reach
// its pod: environment variables from a Secret for envRef and the env secret
// store, Secrets projected as files for the directory secret store.
type secretPlan struct {
	env       map[string]secretRef            // env var → where it comes from
	files     map[string]map[string]secretRef // mount path → file path → where it comes from
	skeletons map[string]map[string]bool      // Secret → its keys
	byKey     map[string]map[string]secretRef // component → metadata key → Secret key
	stores    map[string]*component.Store     // stores the components use, by name
}

var (
	envName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	dnsSubdom  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	secretKeyR = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
)

// envSecret is the Secret that holds a function's environment variables.
func (r *renderer) envSecret() string { return r.fn.Name + "-env" }

func (r *renderer) planSecrets() secretPlan {
	p := secretPlan{
		env: map[string]secretRef{}, files: map[string]map[string]secretRef{},
		skeletons: map[string]map[string]bool{}, byKey: map[string]map[string]secretRef{},
		stores: map[string]*component.Store{},
	}
	add := func(c *component.Component, key string, ref secretRef) {
		if p.skeletons[ref.secret] == nil {
			p.skeletons[ref.secret] = map[string]bool{}
		}
		p.skeletons[ref.secret][ref.key] = true
		if p.byKey[c.Name] == nil {
			p.byKey[c.Name] = map[string]secretRef{}
		}
		p.byKey[c.Name][key] = ref
	}
	for _, c := range r.components {
		if len(c.Scopes) > 0 && !slices.Contains(c.Scopes, r.fn.Name) {
			r.fail(c, "its scopes (%s) leave out function %q, which uses it: add the function to scopes", strings.Join(c.Scopes, ", "), r.fn.Name)
		}
		r.checkLiterals(c)
		var store *component.Store
		if c.SecretStore != "" {
			st, ok := r.set.Store(c.SecretStore)
			if !ok {
				r.fail(c, "secret store %q is not defined in the environment", c.SecretStore)
				continue
			}
			store = st
			p.stores[st.Name] = st
		}
		for _, key := range slices.Sorted(maps.Keys(c.Refs)) {
			ref := c.Refs[key]
			switch {
			case ref.Env != "":
				if !envName.MatchString(ref.Env) {
					r.fail(c, "metadata %q: envRef %q is not an environment variable name Kubernetes can set", key, ref.Env)
					continue
				}
				src := secretRef{r.envSecret(), ref.Env}
				p.env[ref.Env] = src
				add(c, key, src)
			case store == nil || store.Type == component.StoreEnv:
				prefix := ""
				if store != nil {
					prefix = store.Metadata["prefix"]
				}
				name := prefix + ref.Secret
				if ref.Key != "" && ref.Key != ref.Secret {
					r.fail(c, "metadata %q: secretKeyRef key %q: the environment secret store has one key per secret, named like it (%q)", key, ref.Key, ref.Secret)
					continue
				}
				if !envName.MatchString(name) {
					r.fail(c, "metadata %q: secretKeyRef %q reads environment variable %q, which Kubernetes cannot set: use letters, digits and _", key, ref.Secret, name)
					continue
				}
				src := secretRef{r.envSecret(), name}
				p.env[name] = src
				add(c, key, src)
			case store.Type == component.StoreDirectory:
				dir := store.Metadata["path"]
				if !path.IsAbs(dir) {
					r.fail(c, "secret store %q: path %q is relative; for Kubernetes give the absolute folder the Secrets are mounted in (e.g. /var/run/secrets/tether)", store.Name, dir)
					continue
				}
				secretKey, file := ref.Key, ref.Secret+"/"+ref.Key
				if ref.Key == "" {
					secretKey, file = ref.Secret, ref.Secret
				}
				if !dnsSubdom.MatchString(ref.Secret) || len(ref.Secret) > 253 || !secretKeyR.MatchString(secretKey) {
					r.fail(c, "metadata %q: secretKeyRef %q key %q cannot name a Kubernetes Secret and key: use lower-case letters, digits, '-' and '.'", key, ref.Secret, secretKey)
					continue
				}
				src := secretRef{ref.Secret, secretKey}
				if p.files[dir] == nil {
					p.files[dir] = map[string]secretRef{}
				}
				p.files[dir][file] = src
				add(c, key, src)
			default:
				r.fail(c, "secret store %q (%s) reads a file inside the image: for Kubernetes use %s (Secrets mounted as files) or the environment", store.Name, store.Type, component.StoreDirectory)
			}
		}
	}
	return p
}

// checkLiterals refuses secret values written in a component file: the
// file goes into a ConfigMap, which is no place for them. A URL without a
// password (nats://nats:4222) is not a secret, whatever its key.
func (r *renderer) checkLiterals(c *component.Component) {
	for _, key := range slices.Sorted(maps.Keys(c.SecretKeys)) {
		v := c.Metadata[key]
		if _, ref := c.Refs[key]; ref || v == "" {
			continue
		}
		if u, err := url.Parse(v); err == nil && u.Scheme != "" && u.Host != "" {
			if _, hasPassword := u.User.Password(); !hasPassword && u.RawQuery == "" {
				continue
			}
		}
		r.fail(c, "metadata %q is a secret written in the file: give it with secretKeyRef or envRef, so that it goes to a Secret and not into the ConfigMap", key)
	}
}

// secretSkeletons are the Secrets the pod reads, with every key it needs
// and no value.
func (r *renderer) secretSkeletons() []Object {
	var objs []Object
	for _, name := range slices.Sorted(maps.Keys(r.secrets.skeletons)) {
		keys := map[string]string{}
		for k := range r.secrets.skeletons[name] {
			keys[k] = ""
		}
		objs = append(objs, skeleton(r.meta(name), keys))
	}
	return objs
}

// skeleton is a Secret holding keys and no values, with the command that
// creates the real one.
func skeleton(m Meta, keys map[string]string) Object {
	var args []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		args = append(args, "--from-literal="+k+"=...")
	}
	return Object{
		Kind: "Secret", Name: m.Name, Skeleton: true,
		Comment: "A skeleton: the keys the function reads, without values. Create the real Secret\n" +
			"yourself (tether deploy --apply never applies this file), e.g.\n" +
			"  kubectl create secret generic " + m.Name + " " + strings.Join(args, " "),
		Value: Secret{Header: header("v1", "Secret", m), Type: "Opaque", StringData: keys},
	}
}
