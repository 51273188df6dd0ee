package gen

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// driverPackages maps every binding type name (and alias) to the package of
// its driver. A generated main links the drivers of the types its package's
// component files use, so the binary carries only what the function needs,
// and moving a function from one broker to another is a change of YAML and
// a go generate. A test keeps this table in step with bindings/all.
var driverPackages = map[string]string{
	"bindings.aws.sqs":      bindingsPath + "/sqs",
	"bindings.cron":         bindingsPath + "/cron",
	"bindings.gcp.pubsub":   bindingsPath + "/pubsub",
	"bindings.http":         bindingsPath + "/http",
	"bindings.kafka":        bindingsPath + "/kafka",
	"bindings.localstorage": bindingsPath + "/localstorage",
	"bindings.memory":       bindingsPath + "/memory",
	"bindings.mqtt":         bindingsPath + "/mqtt",
	"bindings.mqtt3":        bindingsPath + "/mqtt",
	"bindings.nats":         bindingsPath + "/nats",
	"bindings.postgres":     bindingsPath + "/postgres",
	"bindings.postgresql":   bindingsPath + "/postgres",
	"bindings.rabbitmq":     bindingsPath + "/rabbitmq",
	"bindings.redis":        bindingsPath + "/redis",
	"bindings.smtp":         bindingsPath + "/smtp",
	"bindings.twilio.sms":   bindingsPath + "/twilio",
}

// DriverPackage returns the import path of the driver of binding type typ
// (a name or an alias), which a generated main links when its package's
// components use typ.
func DriverPackage(typ string) (string, bool) {
	p, ok := driverPackages[typ]
	return p, ok
}

// componentDrivers returns the driver packages of the binding types used by
// the component files under dir/components (every environment's folder), in
// import-path order. Files that do not parse are skipped: the component
// loader reports them, with their line, when the function starts.
func componentDrivers(dir string) []string {
	root := filepath.Join(dir, "components")
	seen := map[string]bool{}
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for _, typ := range componentTypes(data) {
			if pkg, ok := driverPackages[typ]; ok {
				seen[pkg] = true
			}
		}
		return nil
	})
	pkgs := make([]string, 0, len(seen))
	for p := range seen {
		pkgs = append(pkgs, p)
	}
	slices.Sort(pkgs)
	return pkgs
}

// componentTypes returns the spec.type of every Component document in data.
func componentTypes(data []byte) []string {
	var types []string
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc struct {
			Kind string `yaml:"kind"`
			Spec struct {
				Type string `yaml:"type"`
			} `yaml:"spec"`
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return types
		}
		if err != nil {
			return types
		}
		if doc.Kind == "Component" && doc.Spec.Type != "" {
			types = append(types, doc.Spec.Type)
		}
	}
}
