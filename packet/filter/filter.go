package filter

import "fmt"

// Limits on an expression. They bound the work Compile does and the size of
// a compiled Filter; an expression beyond one is a compile error.
const (
	// MaxLength is the longest expression in bytes, checked both on the
	// text given to Compile and on its canonical form (String), so that
	// every compiled Filter's String compiles again.
	MaxLength = 1024
	// MaxPrimitives is the most primitives (tcp, host ADDR, port N, ...)
	// one expression may hold.
	MaxPrimitives = 128
	// MaxDepth is the deepest nesting of "(", "not"/"!" and "inner".
	MaxDepth = 32
	// MaxInner is the deepest nesting of "inner": the outer headers plus
	// up to MaxInner encapsulated packets.
	MaxInner = 3
)

// Filter is a compiled filter expression. It is immutable: one Filter may be
// used by any number of goroutines at once.
type Filter struct {
	canon string // canonical text, see String
	nodes []node // the syntax tree, children by index; root is nodes[root]
	root  int32  // -1 for the empty expression
	prog  []insn // what Match runs
}

// Error is a compile error. Column counts bytes of the expression from 1; an
// error at the end of the expression has Column len(expr)+1, and one about
// the expression as a whole (too long) Column 1 or MaxLength+1.
type Error struct {
	Column int
	Msg    string
}

func (e *Error) Error() string { return fmt.Sprintf("filter: column %d: %s", e.Column, e.Msg) }

// Compile parses and compiles a filter expression (see the package
// documentation for the language). The empty expression, or one of only
// white space, matches every frame.
func Compile(expr string) (*Filter, error) {
	if len(expr) > MaxLength {
		return nil, &Error{Column: MaxLength + 1,
			Msg: fmt.Sprintf("expression is %d bytes long, over the limit of %d", len(expr), MaxLength)}
	}
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	p := parser{toks: toks}
	root, err := p.parse()
	if err != nil {
		return nil, err
	}
	f := &Filter{nodes: p.nodes, root: root}
	f.canon = f.format()
	if len(f.canon) > MaxLength {
		return nil, &Error{Column: 1, Msg: fmt.Sprintf(
			"expression is %d bytes long in canonical form, over the limit of %d", len(f.canon), MaxLength)}
	}
	f.prog = compileProg(f.nodes, root)
	return f, nil
}

// MustCompile is like Compile but panics on error. It is meant for
// expressions fixed in the program text.
func MustCompile(expr string) *Filter {
	f, err := Compile(expr)
	if err != nil {
		panic(err)
	}
	return f
}

// String returns the canonical form of the expression: keywords in lower
// case, "and", "or" and "not" spelled out, one space between tokens,
// parentheses only where the grouping needs them, numbers in decimal and
// addresses in their standard form. It compiles to the same Filter. A nil
// Filter prints as "".
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.canon
}

// Match reports whether the frame, starting with its Ethernet header,
// satisfies the filter. A nil or empty Filter matches every frame. Match
// never allocates and never panics, whatever the bytes: fields a frame is
// too short to hold make the primitives that need them false.
func (f *Filter) Match(frame []byte) bool {
	if f == nil || len(f.prog) == 0 {
		return true
	}
	var s state
	s.fr = frame
	prog := f.prog
	pc := 0
	for {
		in := &prog[pc]
		next := in.jf
		if s.test(in) {
			next = in.jt
		}
		if next < 0 {
			return next == targetAccept
		}
		pc = int(next)
	}
}
