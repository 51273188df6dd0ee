package component

import (
	"errors"
	"strings"

	"github.com/google/uuid"

	"github.com/tetherfn/tether/bindings"
)

// templateVars are the values Dapr substitutes in component metadata.
type templateVars struct {
	appID string
	// lookupEnv reads POD_NAME (set from the pod's metadata.name on
	// Kubernetes) and NAMESPACE, only when a value uses them.
	lookupEnv func(string) (string, bool)
}

// expand substitutes Dapr's template values in a metadata value as daprd
// does: each {uuid} becomes a new random UUID, {podName} the POD_NAME
// variable (an error when it is not set), {namespace} "<namespace>.<appID>"
// and {appID} the app id. A consumer group named "{podName}" thus differs
// per replica, and one named "{appID}" is shared by the app's replicas.
func (v *templateVars) expand(s string) (string, error) {
	if !strings.Contains(s, "{") {
		return s, nil
	}
	for strings.Contains(s, "{uuid}") {
		s = strings.Replace(s, "{uuid}", uuid.NewString(), 1)
	}
	if strings.Contains(s, "{podName}") {
		pod, _ := v.lookupEnv("POD_NAME")
		if pod == "" {
			return "", errors.New("{podName} needs the POD_NAME environment variable (on Kubernetes, set it from the pod's metadata.name)")
		}
		s = strings.ReplaceAll(s, "{podName}", pod)
	}
	if strings.Contains(s, "{namespace}") {
		ns, _ := v.lookupEnv("NAMESPACE")
		s = strings.ReplaceAll(s, "{namespace}", ns+"."+v.appID)
	}
	s = strings.ReplaceAll(s, "{appID}", v.appID)
	return s, nil
}

// inferDirection is the direction of a component of a two-way type that
// does not say: like daprd, which opens a binding for every direction its
// type has and fails only the one whose keys are missing at use, Tether
// takes every direction whose required keys are set. An input-only Kafka
// component thus needs no publishTopic. When neither direction has its
// keys, both stay, so that validation names every missing key.
func inferDirection(t *bindings.Type, values map[string]string) bindings.Direction {
	var dir bindings.Direction
	for _, d := range []bindings.Direction{bindings.DirInput, bindings.DirOutput} {
		if !bindings.MissingRequired(t, values, d) {
			dir |= d
		}
	}
	if dir == 0 {
		return t.Directions
	}
	return dir
}

// writesDirection reports whether d sets the generic direction key.
func writesDirection(d *document) bool {
	for _, e := range d.entries {
		if strings.EqualFold(e.name, "direction") {
			return true
		}
	}
	return false
}
