package gen

import (
	"go/ast"
	"go/token"
	"go/types"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/tetherfn/tether/internal/suggest"
)

// inputKind is how the generated adapter turns a message into the
// handler's input.
type inputKind int

const (
	inputJSON        inputKind = iota // a struct value: json.Unmarshal into it
	inputJSONPointer                  // a pointer to a struct: new, then json.Unmarshal
	inputBytes                        // []byte: the payload as it is
	inputString                       // string: the payload as it is
	inputCloudEvent                   // cloudevents.Event
	inputEvent                        // *functions.Event
)

// function is one //tether:function, checked and ready to render.
type function struct {
	Name           string // the function's name (DNS-1123)
	Trigger        string
	Return         string
	Handler        string // the Go func's name
	Constructor    string // <Handler>Function
	Signature      string // the handler's type, as Go source
	Input          inputKind
	InType         string // the input parameter's type
	InElem         string // for inputJSONPointer: the struct type
	Outputs        *outputs
	HasResult      bool
	ResultCanBeNil bool
	Batch          batchKind // how a batch handler takes its items; notBatch for one message a call
	Middleware     string    // middleware=<Func>: called by the constructor for Function.Middleware
	Sample         *sample   // the input's schema and example

	pos token.Pos // of the directive
}

func (f *function) mainPath(dir string) string {
	return filepath.Join(dir, "cmd", f.Name, MainFileName)
}

// DecodeError is the message format of an undecodable payload.
func (f *function) DecodeError() string {
	return strconv.Quote("decode JSON payload into " + f.InType + ": %w")
}

// EncodeError is the message format of an unencodable result.
func (f *function) EncodeError() string {
	return strconv.Quote("encode result of " + f.Handler + ": %w")
}

// IsJSON, IsJSONPointer... let the template switch on the input kind.
func (f *function) IsJSON() bool        { return f.Input == inputJSON }
func (f *function) IsJSONPointer() bool { return f.Input == inputJSONPointer }
func (f *function) IsBytes() bool       { return f.Input == inputBytes }
func (f *function) IsString() bool      { return f.Input == inputString }
func (f *function) IsCloudEvent() bool  { return f.Input == inputCloudEvent }
func (f *function) IsEvent() bool       { return f.Input == inputEvent }

// batchKind is how a handler takes its messages.
type batchKind int

const (
	notBatch   batchKind = iota // one message a call: in T
	batchSlice                  // in []T: all or nothing
	batchType                   // b *functions.Batch[T]: per-item outcomes
)

// IsBatch, IsBatchSlice let the template switch on the batch kind.
func (f *function) IsBatch() bool      { return f.Batch != notBatch }
func (f *function) IsBatchSlice() bool { return f.Batch == batchSlice }

// outputs is a checked Outputs struct type.
type outputs struct {
	Type    string // as Go source, e.g. Outputs or deps.Outputs
	Literal string // its struct type literal, tags included
	Fields  []field
	ok      bool // no problems found
}

// field is one field of an Outputs struct.
type field struct {
	Name      string
	Component string // binding:"<component>"; "" for settings
	Settings  bool   // env:"<prefix>": a settings struct loaded with envconfig
	Prefix    string
	Alloc     bool   // a pointer field: allocate Elem at bind time
	Elem      string // the pointed-to type, when Alloc
}

// function checks the handler fd annotated with d. It returns nil when the
// handler cannot be used at all; problems are reported as found.
func (a *analysis) function(fd *ast.FuncDecl, d directive, directiveOK bool) *function {
	g := a.g
	fn := &function{Name: d.name, Trigger: d.trigger, Return: d.ret, Handler: fd.Name.Name, pos: d.pos}
	ok := directiveOK
	if d.name != "" {
		if first, dup := g.names[d.name]; dup {
			g.report(d.namePos, "function name %q is already used by %s at %s", d.name, first.Handler, shortPos(g.fset.Position(first.pos)))
			ok = false
		} else {
			g.names[d.name] = fn
		}
	}
	if a.pkg.Name == "main" {
		g.report(d.pos, "%s is in package main: tether generates a main for each function, so functions must live in a package that main can import", fd.Name.Name)
		ok = false
	}
	if fd.Recv != nil {
		g.report(fd.Name.Pos(), "%s is a method: a tether function must be a package-level func", fd.Name.Name)
		return nil
	}
	if !fd.Name.IsExported() {
		g.report(fd.Name.Pos(), "%s is not exported: a tether function must be exported (rename it %s)", fd.Name.Name, strings.ToUpper(fd.Name.Name[:1])+fd.Name.Name[1:])
		ok = false
	}
	obj, _ := a.pkg.Types.Scope().Lookup(fd.Name.Name).(*types.Func)
	if obj == nil {
		return nil // a type error, already reported by go/packages
	}
	fn.Constructor = fd.Name.Name + "Function"
	if other := a.pkg.Types.Scope().Lookup(fn.Constructor); other != nil {
		g.report(fd.Name.Pos(), "%s would get the generated constructor %s, but %s is declared at %s: rename one", fd.Name.Name, fn.Constructor, fn.Constructor, shortPos(g.fset.Position(other.Pos())))
		ok = false
	}
	sig := obj.Type().(*types.Signature)
	if sig.TypeParams().Len() > 0 {
		g.report(fd.Type.TypeParams.Pos(), "%s has type parameters: a tether function must not be generic", fd.Name.Name)
		return nil
	}
	if !a.params(fn, fd, sig) {
		ok = false
	}
	if !a.results(fn, fd, sig) {
		ok = false
	}
	if fn.Return != "" && fn.Batch != notBatch {
		g.report(d.retPos, "return=%s, but %s is a batch handler, which returns only error: send what it produces with an output (out Outputs)", fn.Return, fd.Name.Name)
		ok = false
	} else if fn.Return != "" && !fn.HasResult && resultsLookRight(sig) {
		g.report(d.retPos, "return=%s, but %s returns no value to send: want func(ctx context.Context, in T) (R, error)", fn.Return, fd.Name.Name)
		ok = false
	}
	if d.mw != "" && !a.middleware(fn, d, fd.Name.Name) {
		ok = false
	}
	if !ok {
		return nil
	}
	fn.Signature = bareSignature(sig, a.imports.qualifier)
	return fn
}

// middlewareShape is what a middleware=<Func> key must name.
const middlewareShape = "func() []trigger.Middleware"

// middleware checks the func a middleware=<Func> key names: a package-level
// func of this package returning the middleware, called once per
// constructor call so that each Function gets its own (a rate limiter's
// state, say).
func (a *analysis) middleware(fn *function, d directive, handler string) bool {
	g := a.g
	if fn.Batch != notBatch {
		g.report(d.mwPos, "middleware=%s, but %s is a batch handler: a middleware wraps one message's handler; wrap the batch in %s itself", d.mw, handler, handler)
		return false
	}
	obj := a.pkg.Types.Scope().Lookup(d.mw)
	f, isFunc := obj.(*types.Func)
	if obj == nil {
		var names []string
		for _, n := range a.pkg.Types.Scope().Names() {
			if _, ok := a.pkg.Types.Scope().Lookup(n).(*types.Func); ok {
				names = append(names, n)
			}
		}
		g.report(d.mwPos, "middleware=%s: no func %s in package %s%s (want %s)", d.mw, d.mw, a.pkg.Name, suggest.Hint(d.mw, names), middlewareShape)
		return false
	}
	if !isFunc {
		g.report(d.mwPos, "middleware=%s: %s is not a func (want %s)", d.mw, d.mw, middlewareShape)
		return false
	}
	sig := f.Type().(*types.Signature)
	if sig.Params().Len() != 0 || sig.Results().Len() != 1 || sig.TypeParams().Len() != 0 || !isMiddlewareSlice(sig.Results().At(0).Type()) {
		g.report(d.mwPos, "middleware=%s: %s is %s, want %s", d.mw, d.mw, types.TypeString(sig, a.imports.qualifier), middlewareShape)
		return false
	}
	fn.Middleware = d.mw
	return true
}

// isMiddlewareSlice reports whether t is []trigger.Middleware.
func isMiddlewareSlice(t types.Type) bool {
	s, ok := t.(*types.Slice)
	if !ok {
		return false
	}
	n, ok := types.Unalias(s.Elem()).(*types.Named)
	return ok && n.Obj().Name() == "Middleware" && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "github.com/tetherfn/tether/trigger"
}

// resultsLookRight: the results are error alone, so a return= key is the
// only mistake worth reporting about them.
func resultsLookRight(sig *types.Signature) bool {
	return sig.Results().Len() == 1 && isError(sig.Results().At(0).Type())
}

// bareSignature writes sig as a func type without parameter names.
func bareSignature(sig *types.Signature, q types.Qualifier) string {
	var b strings.Builder
	b.WriteString("func(")
	for i := range sig.Params().Len() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(types.TypeString(sig.Params().At(i).Type(), q))
	}
	b.WriteString(")")
	switch n := sig.Results().Len(); n {
	case 0:
	case 1:
		b.WriteString(" " + types.TypeString(sig.Results().At(0).Type(), q))
	default:
		b.WriteString(" (")
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(types.TypeString(sig.Results().At(i).Type(), q))
		}
		b.WriteString(")")
	}
	return b.String()
}

const shapes = "func(ctx context.Context, in T[, out Outputs]) error or (R, error); for batches, in []T or b *functions.Batch[T], returning error"

// paramPositions returns the position of each parameter's type.
func paramPositions(ft *ast.FuncType) []token.Pos {
	var pos []token.Pos
	for _, f := range ft.Params.List {
		n := max(len(f.Names), 1)
		for range n {
			pos = append(pos, f.Type.Pos())
		}
	}
	return pos
}

// params checks the parameters: context, input, and optional Outputs.
func (a *analysis) params(fn *function, fd *ast.FuncDecl, sig *types.Signature) bool {
	g := a.g
	params := sig.Params()
	pos := paramPositions(fd.Type)
	name := fd.Name.Name
	ok := true
	if sig.Variadic() {
		g.report(pos[len(pos)-1], "%s is variadic: want %s", name, shapes)
		return false
	}
	switch n := params.Len(); {
	case n == 0:
		g.report(fd.Type.Params.Opening, "%s takes no parameters: want %s", name, shapes)
		return false
	case n > 3:
		g.report(pos[3], "%s takes %d parameters: want %s", name, n, shapes)
		ok = false
	}
	if !isContext(params.At(0).Type()) {
		g.report(pos[0], "%s: the first parameter must be context.Context, not %s", name, a.show(params.At(0).Type()))
		// What follows is shifted by one: do not report it too.
		return false
	}
	if params.Len() == 1 {
		g.report(fd.Type.Params.Closing, "%s takes no input: want %s", name, shapes)
		return false
	}
	if in := params.At(1).Type(); isNamed(types.Unalias(in), functionsPath, "Batch") {
		g.report(pos[1], "%s: take the batch as a pointer, *%s: the handler marks its failed items in it", name, a.show(in))
		ok = false
	} else if item, kind := batchItem(in); kind != notBatch {
		fn.Batch = kind
		if !a.input(fn, item) {
			g.report(pos[1], "%s: the batch's items have type %s; want a struct, a pointer to a struct, []byte, string, cloudevents.Event or *functions.Event%s", name, a.show(item), inputHint(item))
			ok = false
		}
	} else if !a.input(fn, in) {
		g.report(pos[1], "%s: the input has type %s; want a struct, a pointer to a struct, []byte, string, cloudevents.Event or *functions.Event%s", name, a.show(in), inputHint(in))
		ok = false
	}
	if params.Len() >= 3 {
		o := a.outputsParam(params.At(2).Type(), pos[2], name)
		if o == nil || !o.ok {
			ok = false
		}
		fn.Outputs = o
	}
	return ok
}

// batchItem returns the item type of a batch handler's input t, and how the
// handler takes the batch: []T (any slice but []byte, which is one
// message's payload) or *functions.Batch[T]. notBatch when t is neither.
func batchItem(t types.Type) (types.Type, batchKind) {
	ut := types.Unalias(t)
	if p, ok := ut.(*types.Pointer); ok {
		if n, ok := types.Unalias(p.Elem()).(*types.Named); ok && isNamed(n, functionsPath, "Batch") && n.TypeArgs().Len() == 1 {
			return n.TypeArgs().At(0), batchType
		}
		return nil, notBatch
	}
	s, ok := ut.Underlying().(*types.Slice)
	if !ok {
		return nil, notBatch
	}
	if b, ok := s.Elem().Underlying().(*types.Basic); ok && b.Kind() == types.Byte {
		return nil, notBatch
	}
	return s.Elem(), batchSlice
}

// inputHint suggests the allowed form of an input type that is almost right.
func inputHint(t types.Type) string {
	t = types.Unalias(t)
	if isNamed(t, functionsPath, "Event") {
		return " (take *functions.Event, a pointer)"
	}
	if p, ok := t.(*types.Pointer); ok && isNamed(p.Elem(), eventPath, "Event") {
		return " (take cloudevents.Event by value)"
	}
	return ""
}

// input classifies the input type; false when it is not allowed.
func (a *analysis) input(fn *function, t types.Type) bool {
	ut := types.Unalias(t)
	fn.InType = types.TypeString(t, a.imports.qualifier)
	switch {
	case isNamed(ut, eventPath, "Event"):
		fn.Input = inputCloudEvent
	case isPointerTo(ut, functionsPath, "Event"):
		fn.Input = inputEvent
	case isNamed(ut, functionsPath, "Event"):
		return false
	case types.Identical(ut, types.NewSlice(types.Typ[types.Byte])):
		fn.Input = inputBytes
	case types.Identical(ut, types.Typ[types.String]):
		fn.Input = inputString
	case isStruct(ut):
		fn.Input = inputJSON
	default:
		p, ok := ut.(*types.Pointer)
		if !ok || !isStruct(p.Elem()) || isNamed(types.Unalias(p.Elem()), eventPath, "Event") {
			return false
		}
		fn.Input = inputJSONPointer
		fn.InElem = types.TypeString(p.Elem(), a.imports.qualifier)
	}
	fn.setSample(t)
	return true
}

// results checks the results: error, or (R, error).
func (a *analysis) results(fn *function, fd *ast.FuncDecl, sig *types.Signature) bool {
	g := a.g
	res := sig.Results()
	name := fd.Name.Name
	pos := fd.Name.Pos()
	if fd.Type.Results != nil {
		pos = fd.Type.Results.Pos()
	}
	if fn.Batch != notBatch && !(res.Len() == 1 && isError(res.At(0).Type())) {
		g.report(pos, "%s returns %s: a batch handler returns only error (mark failed items with b.Fail, send results with an output)", name, a.showTuple(res))
		return false
	}
	switch res.Len() {
	case 1:
		if isError(res.At(0).Type()) {
			return true
		}
	case 2:
		if !isError(res.At(1).Type()) {
			break
		}
		r := res.At(0).Type()
		if why := unencodable(r); why != "" {
			g.report(pos, "%s returns %s, which cannot be sent: %s", name, a.show(r), why)
			return false
		}
		fn.HasResult = true
		switch types.Unalias(r).Underlying().(type) {
		case *types.Pointer, *types.Map, *types.Slice, *types.Interface:
			fn.ResultCanBeNil = true
		}
		return true
	}
	g.report(pos, "%s returns %s: want error, or (R, error) to send R to the return binding", name, a.showTuple(res))
	return false
}

// unencodable says why values of type t cannot be a result, "" if they can.
func unencodable(t types.Type) string {
	switch u := types.Unalias(t).Underlying().(type) {
	case *types.Chan:
		return "channels have no JSON encoding"
	case *types.Signature:
		return "funcs have no JSON encoding"
	case *types.Basic:
		if u.Info()&types.IsComplex != 0 {
			return "complex numbers have no JSON encoding"
		}
		if u.Kind() == types.UnsafePointer {
			return "unsafe.Pointer has no JSON encoding"
		}
	}
	return ""
}

// outputsParam checks the Outputs parameter type t and returns it analysed,
// or nil when it is not a struct at all.
func (a *analysis) outputsParam(t types.Type, pos token.Pos, handler string) *outputs {
	ut := types.Unalias(t)
	if o, seen := a.outputs[ut]; seen {
		return o
	}
	if p, ok := ut.(*types.Pointer); ok && isStruct(p.Elem()) {
		a.g.report(pos, "%s: take the outputs by value (%s), not as a pointer: they are bound once and shared by every call", handler, a.show(p.Elem()))
		return nil
	}
	named, ok := ut.(*types.Named)
	if !ok || !isStruct(named) {
		a.g.report(pos, "%s: the third parameter has type %s; want a named struct type whose fields are output clients tagged binding:\"<component>\"", handler, a.show(t))
		return nil
	}
	st := named.Underlying().(*types.Struct)
	o := &outputs{Type: types.TypeString(t, a.imports.qualifier), ok: true}
	a.outputs[ut] = o
	a.ordered = append(a.ordered, o)
	var lit strings.Builder
	lit.WriteString("struct {\n")
	for i := range st.NumFields() {
		v := st.Field(i)
		tag := reflect.StructTag(st.Tag(i))
		f, ok := a.field(v, tag, o.Type)
		if !ok {
			o.ok = false
			continue
		}
		o.Fields = append(o.Fields, f)
		lit.WriteString(v.Name() + " " + types.TypeString(v.Type(), a.imports.qualifier))
		if raw := st.Tag(i); raw != "" {
			if strings.Contains(raw, "`") {
				lit.WriteString(" " + strconv.Quote(raw))
			} else {
				lit.WriteString(" `" + raw + "`")
			}
		}
		lit.WriteString("\n")
	}
	lit.WriteString("}")
	o.Literal = lit.String()
	return o
}

// field checks one field of an Outputs struct.
func (a *analysis) field(v *types.Var, tag reflect.StructTag, outputsType string) (field, bool) {
	g := a.g
	f := field{Name: v.Name()}
	where := "field " + v.Name() + " of " + outputsType
	component, isBinding := tag.Lookup("binding")
	prefix, isSettings := tag.Lookup("env")
	switch {
	case v.Embedded():
		g.report(v.Pos(), "%s is embedded: give it a name and a binding:\"<component>\" tag", where)
		return f, false
	case !v.Exported() && v.Pkg() != a.pkg.Types:
		g.report(v.Pos(), "%s is unexported and %s is in another package: the generated code cannot set it", where, outputsType)
		return f, false
	case isBinding && isSettings:
		g.report(v.Pos(), "%s has both a binding and an env tag: a field is an output client or a settings struct, not both", where)
		return f, false
	case !isBinding && !isSettings:
		g.report(v.Pos(), "%s has no binding tag: write `binding:\"<component>\"` (or `env:\"<PREFIX>\"` for a settings struct)", where)
		return f, false
	case isSettings:
		t := types.Unalias(v.Type())
		if p, ok := t.(*types.Pointer); ok && isStruct(p.Elem()) {
			f.Alloc, f.Elem = true, types.TypeString(p.Elem(), a.imports.qualifier)
		} else if !isStruct(t) {
			g.report(v.Pos(), "%s is tagged env, so it must be a settings struct with envconfig tags, not %s", where, a.show(v.Type()))
			return f, false
		}
		f.Settings, f.Prefix = true, prefix
		return f, true
	case component == "":
		g.report(v.Pos(), "%s has an empty binding tag: name the output component, binding:\"<component>\"", where)
		return f, false
	}
	f.Component = component
	t := types.Unalias(v.Type())
	if p, ok := t.(*types.Pointer); ok {
		if implementsBinder(t) {
			f.Alloc, f.Elem = true, types.TypeString(p.Elem(), a.imports.qualifier)
			return f, true
		}
	} else if _, isIface := t.Underlying().(*types.Interface); !isIface && implementsBinder(types.NewPointer(t)) {
		return f, true
	}
	g.report(v.Pos(), "%s has type %s, which is not an output client: neither it nor a pointer to it implements bindings.Binder (use functions.Output[T], or a binding's client such as *postgres.Client)", where, a.show(v.Type()))
	return f, false
}

// implementsBinder reports whether t implements bindings.Binder, whose one
// method is BindOutput(bindings.OutputBinding) error. It checks the method
// rather than calling types.Implements because the package being generated
// for need not import package bindings itself (a typed client's package
// does); TestBinderShape keeps the two in step.
func implementsBinder(t types.Type) bool {
	obj, _, _ := types.LookupFieldOrMethod(t, false, nil, "BindOutput")
	m, ok := obj.(*types.Func)
	if !ok {
		return false
	}
	sig := m.Signature()
	return sig.Params().Len() == 1 && isNamed(types.Unalias(sig.Params().At(0).Type()), bindingsPath, "OutputBinding") &&
		sig.Results().Len() == 1 && isError(sig.Results().At(0).Type()) && !sig.Variadic()
}

func isNamed(t types.Type, path, name string) bool {
	n, ok := t.(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == path && n.Obj().Name() == name
}

func isPointerTo(t types.Type, path, name string) bool {
	p, ok := t.(*types.Pointer)
	return ok && isNamed(types.Unalias(p.Elem()), path, name)
}

func isStruct(t types.Type) bool {
	_, ok := types.Unalias(t).Underlying().(*types.Struct)
	return ok
}

func isContext(t types.Type) bool { return isNamed(types.Unalias(t), "context", "Context") }

func isError(t types.Type) bool { return types.Identical(t, types.Universe.Lookup("error").Type()) }

// show writes t for a message, qualified by package name.
func (a *analysis) show(t types.Type) string {
	return types.TypeString(t, func(p *types.Package) string {
		if p == a.pkg.Types {
			return ""
		}
		return p.Name()
	})
}

func (a *analysis) showTuple(t *types.Tuple) string {
	if t.Len() == 0 {
		return "nothing"
	}
	parts := make([]string, t.Len())
	for i := range t.Len() {
		parts[i] = a.show(t.At(i).Type())
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// shortPos writes a position as file:line:col with the file's base name, for
// pointing at a second place inside a message.
func shortPos(p token.Position) string {
	return filepath.Base(p.Filename) + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Column)
}
