package dev

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/tetherfn/tether/trigger"
)

// SampleInfo is a function's input described, as GET /v1.0/dev/samples
// answers it: the generator writes it from the handler's input type
// (trigger.Sample), and the function's /v1.0/status shows it.
type SampleInfo struct {
	Function string `json:"function"`
	// Binding is the function's trigger: what the example is sent to.
	Binding string `json:"binding"`
	trigger.Sample
}

// samples asks each running function for its inputs' samples.
func (s *server) samples(req *http.Request) []SampleInfo {
	s.mu.Lock()
	procs := make([]*process, 0, len(s.procs))
	for _, p := range s.procs {
		procs = append(procs, p)
	}
	s.mu.Unlock()
	var out []SampleInfo
	for _, p := range procs {
		st, err := p.status(req.Context())
		if err != nil {
			continue // stopping, or not ready: it has no say
		}
		for _, f := range st.Functions {
			if f.Sample != nil {
				out = append(out, SampleInfo{Function: f.Name, Binding: f.Trigger.Name, Sample: *f.Sample})
			}
		}
	}
	slices.SortFunc(out, func(a, b SampleInfo) int { return strings.Compare(a.Function, b.Function) })
	return out
}

// serveSamples answers GET /v1.0/dev/samples: every function's.
func (s *server) serveSamples(w http.ResponseWriter, req *http.Request) {
	out := s.samples(req)
	if out == nil {
		out = []SampleInfo{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// serveSample answers GET /v1.0/dev/samples/{binding}: the sample of the
// function that binding triggers (tether send <binding> --sample).
func (s *server) serveSample(w http.ResponseWriter, req *http.Request) {
	name := req.PathValue("binding")
	var triggers []string
	for _, si := range s.samples(req) {
		if si.Binding == name {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(si)
			return
		}
		triggers = append(triggers, si.Binding)
	}
	writeAPIError(w, http.StatusNotFound, "ERR_NO_SAMPLE",
		fmt.Sprintf("no running function is triggered by %q with a sample of its input (triggers with one: %s)", name, strings.Join(triggers, ", ")))
}
