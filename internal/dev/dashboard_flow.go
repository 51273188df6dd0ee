package dev

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The Flow page: bindings and functions as a graph, laid out in columns
// (a binding, the functions it triggers, the bindings they send to...), each
// edge with a live counter.

type flowView struct {
	// Wide is laid out left to right, Narrow top to bottom; CSS shows one.
	Wide, Narrow graph
	Functions    []fnView
}

// graph is the laid-out flow.
type graph struct {
	Name          string // wide or narrow, for the SVG's ids
	Width, Height int
	Nodes         []gnode
	Edges         []gedge
}

type gnode struct {
	ID, Label, Sub string
	Kind           string // function, binding, deadletter
	X, Y, W, H     int
	Error          string
}

type gedge struct {
	ID               string // from>to
	Kind             string // trigger, output, deadletter
	Path             string // SVG path
	LabelX, LabelY   int
	Function, Output string
}

const (
	nodeW, nodeH = 150, 46
	colGap       = 110
	rowGap       = 28
	margin       = 20
	// vertical
	vColGap, vRowGap = 16, 58
)

// layout places fns and their bindings in columns: a function one column
// right of its trigger, a binding one column right of the last function
// sending to it (cycles are cut after as many rounds as there are nodes).
//
// Vertical lays the columns out as rows instead, for a narrow window.
func layout(fns []fnView, vertical bool) graph {
	type node struct {
		gnode
		col int
	}
	nodes := map[string]*node{}
	var order []string
	add := func(id, label, sub, kind string) *node {
		if n := nodes[id]; n != nil {
			if kind == "deadletter" {
				n.Kind = kind
			}
			return n
		}
		n := &node{gnode: gnode{ID: id, Label: label, Sub: sub, Kind: kind}}
		nodes[id] = n
		order = append(order, id)
		return n
	}
	var edges []gedge
	for _, f := range fns {
		fn := add("f:"+f.Name, f.Name, "function", "function")
		if !f.Running {
			fn.Error = "not running"
		}
		if f.LastError != "" {
			fn.Error = "build failed"
		}
		if f.Trigger.Name != "" {
			add("b:"+f.Trigger.Name, f.Trigger.Name, f.Trigger.Type, "binding")
			edges = append(edges, gedge{ID: "b:" + f.Trigger.Name + ">f:" + f.Name, Kind: "trigger", Function: f.Name, Output: f.Trigger.Name})
		}
		for _, o := range f.Outputs {
			add("b:"+o, o, f.Types[o], "binding")
			edges = append(edges, gedge{ID: "f:" + f.Name + ">b:" + o, Kind: "output", Function: f.Name, Output: o})
		}
		if f.DeadLetter != "" {
			add("b:"+f.DeadLetter, f.DeadLetter, "dead letters", "deadletter")
			edges = append(edges, gedge{ID: "f:" + f.Name + ">b:" + f.DeadLetter, Kind: "deadletter", Function: f.Name, Output: f.DeadLetter})
		}
	}
	from := func(e gedge) string { return e.ID[:strings.IndexByte(e.ID, '>')] }
	to := func(e gedge) string { return e.ID[strings.IndexByte(e.ID, '>')+1:] }
	for range len(order) {
		changed := false
		for _, e := range edges {
			a, b := nodes[from(e)], nodes[to(e)]
			if b.col < a.col+1 {
				b.col, changed = a.col+1, true
			}
		}
		if !changed {
			break
		}
	}
	cols := map[int][]*node{}
	maxCol := 0
	for _, id := range order {
		n := nodes[id]
		cols[n.col] = append(cols[n.col], n)
		maxCol = max(maxCol, n.col)
	}
	g := graph{Name: "wide"}
	if vertical {
		g.Name = "narrow"
	}
	for c := 0; c <= maxCol; c++ {
		// Dead letters last in their column.
		slices.SortStableFunc(cols[c], func(a, b *node) int {
			return cmp.Compare(boolInt(a.Kind == "deadletter"), boolInt(b.Kind == "deadletter"))
		})
		for i, n := range cols[c] {
			n.X, n.Y, n.W, n.H = margin+c*(nodeW+colGap), margin+i*(nodeH+rowGap), nodeW, nodeH
			if vertical {
				n.X, n.Y = margin+i*(nodeW+vColGap), margin+c*(nodeH+vRowGap)
			}
			g.Height = max(g.Height, n.Y+nodeH+margin)
			g.Width = max(g.Width, n.X+nodeW+margin)
		}
	}
	for _, id := range order {
		g.Nodes = append(g.Nodes, nodes[id].gnode)
	}
	for _, e := range edges {
		a, b := nodes[from(e)], nodes[to(e)]
		if vertical {
			x1, y1, x2, y2 := a.X+a.W/2, a.Y+a.H, b.X+b.W/2, b.Y
			if b.col <= a.col { // a cycle: around the side
				x2, y2 = b.X+b.W, b.Y+b.H/2
			}
			mid := (y1 + y2) / 2
			e.Path = "M" + strconv.Itoa(x1) + "," + strconv.Itoa(y1) + " C" + strconv.Itoa(x1) + "," + strconv.Itoa(mid) + " " + strconv.Itoa(x2) + "," + strconv.Itoa(mid) + " " + strconv.Itoa(x2) + "," + strconv.Itoa(y2)
			e.LabelX, e.LabelY = (x1+x2)/2+14, mid+4
			g.Edges = append(g.Edges, e)
			continue
		}
		x1, y1 := a.X+a.W, a.Y+a.H/2
		x2, y2 := b.X, b.Y+b.H/2
		if b.col <= a.col { // a cycle: around below
			x2 = b.X + b.W/2
			y2 = b.Y + b.H
		}
		mid := (x1 + x2) / 2
		e.Path = "M" + strconv.Itoa(x1) + "," + strconv.Itoa(y1) + " C" + strconv.Itoa(mid) + "," + strconv.Itoa(y1) + " " + strconv.Itoa(mid) + "," + strconv.Itoa(y2) + " " + strconv.Itoa(x2) + "," + strconv.Itoa(y2)
		e.LabelX, e.LabelY = mid, (y1+y2)/2-4
		g.Edges = append(g.Edges, e)
	}
	return g
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *server) serveFlow(w http.ResponseWriter, r *http.Request) {
	fns := s.topology(r.Context())
	s.render(w, r, "flow", flowView{Wide: layout(fns, false), Narrow: layout(fns, true), Functions: fns}, nil)
}

// serveFlowAPI answers each edge's counter, from the delivery events since
// tether dev started: messages received on a trigger edge, sent on an
// output edge, dead-lettered on a dead-letter edge.
func (s *server) serveFlowAPI(w http.ResponseWriter, r *http.Request) {
	counts := map[string]float64{}
	for _, e := range layout(s.topology(r.Context()), false).Edges {
		id := e.ID
		if e.Kind == "deadletter" {
			id = "dead:" + id
		}
		counts[e.ID] = s.edgeCount(id)
	}
	writeJSON(w, counts)
}
