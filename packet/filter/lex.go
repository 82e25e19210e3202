package filter

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF tokKind = iota
	tWord
	tLParen
	tRParen
	tAnd
	tOr
	tNot
	tCmp
)

type cmpOp uint8

const (
	cmpLT cmpOp = iota + 1
	cmpLE
	cmpEQ
	cmpNE
	cmpGE
	cmpGT
)

var cmpText = [...]string{cmpLT: "<", cmpLE: "<=", cmpEQ: "==", cmpNE: "!=", cmpGE: ">=", cmpGT: ">"}

type token struct {
	kind  tokKind
	text  string // as written
	lower string // text in lower case (words)
	col   int    // 1-based byte column
	cmp   cmpOp  // for tCmp
}

// describe names a token for an error message.
func (t *token) describe() string {
	if t.kind == tEOF {
		return "end of expression"
	}
	return fmt.Sprintf("%q", t.text)
}

// isWordByte reports the bytes words are made of: keywords, numbers,
// addresses (IPv4, IPv6, MAC), prefixes and port ranges.
func isWordByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '.', ':', '/', '-', '_':
		return true
	}
	return false
}

// lex splits expr into tokens, ending with a tEOF token.
func lex(expr string) ([]token, error) {
	var toks []token
	for i := 0; i < len(expr); {
		c := expr[i]
		col := i + 1
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case isWordByte(c):
			j := i + 1
			for j < len(expr) && isWordByte(expr[j]) {
				j++
			}
			w := expr[i:j]
			t := token{kind: tWord, text: w, lower: strings.ToLower(w), col: col}
			switch t.lower {
			case "and":
				t.kind = tAnd
			case "or":
				t.kind = tOr
			case "not":
				t.kind = tNot
			}
			toks = append(toks, t)
			i = j
			continue
		}
		two := ""
		if i+1 < len(expr) {
			two = expr[i : i+2]
		}
		t := token{col: col}
		switch {
		case c == '(':
			t.kind, t.text = tLParen, "("
		case c == ')':
			t.kind, t.text = tRParen, ")"
		case two == "&&":
			t.kind, t.text = tAnd, "&&"
		case two == "||":
			t.kind, t.text = tOr, "||"
		case two == "!=":
			t.kind, t.text, t.cmp = tCmp, two, cmpNE
		case c == '!':
			t.kind, t.text = tNot, "!"
		case two == "<=":
			t.kind, t.text, t.cmp = tCmp, two, cmpLE
		case two == ">=":
			t.kind, t.text, t.cmp = tCmp, two, cmpGE
		case two == "==":
			t.kind, t.text, t.cmp = tCmp, two, cmpEQ
		case c == '<':
			t.kind, t.text, t.cmp = tCmp, "<", cmpLT
		case c == '>':
			t.kind, t.text, t.cmp = tCmp, ">", cmpGT
		case c == '=':
			t.kind, t.text, t.cmp = tCmp, "=", cmpEQ
		case c == '&':
			return nil, &Error{Column: col, Msg: `unexpected character "&" (did you mean "&&"?)`}
		case c == '|':
			return nil, &Error{Column: col, Msg: `unexpected character "|" (did you mean "||"?)`}
		case c == '%':
			return nil, &Error{Column: col, Msg: `unexpected character "%" (IPv6 zones are not supported)`}
		case c == '[':
			return nil, &Error{Column: col, Msg: `unexpected character "[" (byte offsets are not supported; use "inner" to look inside tunnels)`}
		default:
			r, n := utf8.DecodeRuneInString(expr[i:])
			if r == utf8.RuneError && n <= 1 {
				return nil, &Error{Column: col, Msg: fmt.Sprintf("unexpected byte 0x%02x", c)}
			}
			return nil, &Error{Column: col, Msg: fmt.Sprintf("unexpected character %q", r)}
		}
		i += len(t.text)
		toks = append(toks, t)
	}
	toks = append(toks, token{kind: tEOF, col: len(expr) + 1})
	return toks, nil
}
