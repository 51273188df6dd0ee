package deploy

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Marshal returns o as one YAML document, its comment first.
func Marshal(o Object) ([]byte, error) {
	var buf bytes.Buffer
	for _, line := range strings.Split(o.Comment, "\n") {
		if line != "" {
			buf.WriteString("# " + line + "\n")
		}
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(o.Value); err != nil {
		return nil, fmt.Errorf("%s %s: %w", o.Kind, o.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteStream writes the objects as one multi-document YAML stream, as
// kubectl apply -f - reads it.
func WriteStream(w io.Writer, objs []Object) error {
	var buf bytes.Buffer
	for i, o := range objs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		b, err := Marshal(o)
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// FileName is the file an object is written to by WriteDir.
func FileName(o Object) string {
	return o.Name + "." + strings.ToLower(o.Kind) + ".yaml"
}

// WriteDir writes one file per object into dir, and a kustomization.yaml
// listing them, so that kubectl apply -k dir (or a kustomize overlay)
// applies them. Secret skeletons are written but not listed: they hold no
// values, and applying them would blank real Secrets. It returns the paths
// written.
func WriteDir(dir, namespace string, objs []Object) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	k := Kustomization{APIVersion: "kustomize.config.k8s.io/v1beta1", Kind: "Kustomization", Namespace: namespace}
	var skeletons, written []string
	for _, o := range objs {
		b, err := Marshal(o)
		if err != nil {
			return written, err
		}
		name := FileName(o)
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return written, err
		}
		written = append(written, path)
		if o.Skeleton {
			skeletons = append(skeletons, name)
		} else {
			k.Resources = append(k.Resources, name)
		}
	}
	comment := "Written by tether deploy."
	if len(skeletons) > 0 {
		comment += "\nNot listed: the Secret skeletons " + strings.Join(skeletons, ", ") + ".\n" +
			"Create those Secrets with their values yourself (each file says how), or add a\nsecretGenerator here."
	}
	b, err := Marshal(Object{Comment: comment, Value: k})
	if err != nil {
		return written, err
	}
	path := filepath.Join(dir, "kustomization.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return written, err
	}
	return append(written, path), nil
}
