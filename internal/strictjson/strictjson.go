// Package strictjson decodes untrusted JSON request bodies into Go values strictly and at a
// bounded cost.
//
// Why not encoding/json with a token walk (what the API did first): a body of deeply nested
// arrays made that walk build a path string per level, so memory grew with the square of the
// depth (a 48 KB body of 24,000 levels took a process from 45 MB to 928 MB). Here a first
// pass over the tokens (github.com/go-json-experiment/json's jsontext, the prototype of the
// standard library's encoding/json/v2) stops at the first level deeper than MaxDepth, before
// anything is built, and refuses malformed JSON, invalid UTF-8 and duplicate member names on
// the way, so every body costs time and memory linear in its size, with a small constant.
// The second pass unmarshals with the same library's strict semantics: member names match
// exactly (not case-insensitively), unknown members are refused, an integer field refuses
// 1.5 and "1". Every refusal names the field it is about, and never quotes the input.
package strictjson

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// MaxDepth is the deepest nesting of objects and arrays a body may have. The deepest body
// the service takes (an appeal: {evidence: [{...}]}) has depth 3.
const MaxDepth = 8

// maxFieldRunes bounds how much of a member name an error repeats: names come from the
// caller, and an error must not echo a 60 KB key.
const maxFieldRunes = 64

// Error is why a body was refused. Field is the path of the value it is about in the API's
// notation ("amount.value", "evidence[0].name"; "" for the body as a whole). Reason is safe
// to show to the caller and to log: it describes, it never quotes the input.
type Error struct {
	Field  string
	Reason string
	// Syntax is true when the body is not well-formed JSON (or too deep to be read), false
	// when it is JSON of the wrong shape (unknown or repeated member, wrong type).
	Syntax bool
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// unmarshalOptions are the strict semantics of the second pass. Duplicate names and invalid
// UTF-8 are refused by jsontext's defaults already.
var unmarshalOptions = json.JoinOptions(
	json.RejectUnknownMembers(true),
	json.MatchCaseInsensitiveNames(false),
)

// Decode checks data with Check and unmarshals it into dst, a non-nil pointer. A struct
// target needs a JSON object, a slice target a JSON array.
func Decode(data []byte, dst any) *Error {
	t := reflect.TypeOf(dst)
	if t == nil || t.Kind() != reflect.Pointer {
		panic("strictjson.Decode: dst must be a non-nil pointer")
	}
	t = t.Elem()
	if e := Check(data, MaxDepth); e != nil {
		return e
	}
	if want := topKind(t); want != 0 {
		if got := firstKind(data); got != want {
			return &Error{Reason: "the body must be a JSON " + kindName(want)}
		}
	}
	if err := json.Unmarshal(data, dst, unmarshalOptions); err != nil {
		return describe(t, err)
	}
	return nil
}

// Check reads data as one JSON value without building anything: it refuses malformed JSON,
// invalid UTF-8, duplicate member names, trailing data and nesting deeper than maxDepth.
// Reading stops at the first level too deep, so the cost is linear in the size of the body
// whatever its shape.
func Check(data []byte, maxDepth int) *Error {
	if len(bytes.TrimSpace(data)) == 0 {
		return &Error{Reason: "the body is empty; send a JSON value", Syntax: true}
	}
	if !utf8.Valid(data) {
		return &Error{Reason: fmt.Sprintf("invalid UTF-8 at byte %d", firstInvalidUTF8(data)), Syntax: true}
	}
	dec := jsontext.NewDecoder(bytes.NewReader(data))
	for read := false; ; {
		_, err := dec.ReadToken()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			e := syntaxError(err)
			e.Field = stackField(dec)
			return e
		}
		if read {
			// A decoder reads a stream of values; a body is one.
			return &Error{Reason: fmt.Sprintf("unexpected data after the JSON value, at byte %d", dec.InputOffset()), Syntax: true}
		}
		if dec.StackDepth() == 0 {
			read = true // the top-level value is complete
			continue
		}
		if dec.StackDepth() > maxDepth {
			return &Error{
				Field:  stackField(dec),
				Reason: fmt.Sprintf("nested more than %d levels deep", maxDepth),
				Syntax: true,
			}
		}
	}
}

// stackField renders where the decoder stands in the API's field notation. The decoder
// knows which levels are arrays, so no type is needed.
func stackField(dec *jsontext.Decoder) string {
	var b strings.Builder
	level := 0
	for tok := range dec.StackPointer().Tokens() {
		level++
		if level > MaxDepth+1 {
			b.WriteString("…")
			break
		}
		if kind, _ := dec.StackIndex(level); kind == '[' {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(safeName(tok))
	}
	return b.String()
}

// syntaxError describes a jsontext error by its kind and position only.
func syntaxError(err error) *Error {
	e := &Error{Reason: "malformed JSON", Syntax: true}
	var se *jsontext.SyntacticError
	switch {
	case errors.As(err, &se) && errors.Is(se.Err, jsontext.ErrDuplicateName):
		// Well-formed JSON (RFC 8259 allows it) with an ambiguous meaning: a field error.
		e.Reason, e.Syntax = "given more than once", false
	case errors.Is(err, io.ErrUnexpectedEOF):
		e.Reason = "malformed JSON: the body ends early"
	case se != nil:
		e.Reason = fmt.Sprintf("malformed JSON at byte %d", se.ByteOffset)
	}
	return e
}

// describe turns an unmarshal error into an Error naming the field.
func describe(t reflect.Type, err error) *Error {
	var se *json.SemanticError
	if errors.As(err, &se) {
		e := &Error{Field: fieldOf(t, string(se.JSONPointer))}
		switch {
		case errors.Is(se.Err, json.ErrUnknownName):
			e.Reason = "unknown field"
		case se.GoType != nil:
			e.Reason = "must be " + describeType(se.GoType)
		default:
			e.Reason = "has the wrong type"
		}
		if e.Field == "" {
			e.Reason = "the body " + e.Reason
		}
		return e
	}
	// Check has read the same bytes with the same rules, so this is not expected.
	e := syntaxError(err)
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) {
		e.Field = fieldOf(t, string(syn.JSONPointer))
	}
	return e
}

// fieldOf renders a JSON Pointer in the API's field notation, walking t to tell array
// indexes ("[0]") from member names (".name"). Names are cut to maxFieldRunes and stripped of
// control characters; at most MaxDepth+1 tokens are rendered.
func fieldOf(t reflect.Type, pointer string) string {
	if pointer == "" {
		return ""
	}
	var b strings.Builder
	n := 0
	for tok := range jsontext.Pointer(pointer).Tokens() {
		if n++; n > MaxDepth+1 {
			b.WriteString("…")
			break
		}
		t = deref(t)
		isIndex := false
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			_, convErr := strconv.Atoi(tok)
			isIndex = convErr == nil
		}
		switch {
		case isIndex:
			b.WriteString("[" + tok + "]")
			t = t.Elem()
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(safeName(tok))
			t = memberType(t, tok)
		}
	}
	return b.String()
}

func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// memberType is the type of the struct field with JSON name name, or nil.
func memberType(t reflect.Type, name string) reflect.Type {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == name || (tag == "" && f.Name == name) {
			return f.Type
		}
	}
	return nil
}

// safeName cuts a caller's member name to maxFieldRunes and drops what would garble a log
// line or a terminal.
func safeName(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == maxFieldRunes {
			b.WriteString("…")
			break
		}
		if r == utf8.RuneError || unicode.IsControl(r) {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

func topKind(t reflect.Type) byte {
	switch deref(t).Kind() {
	case reflect.Struct, reflect.Map:
		return '{'
	case reflect.Slice, reflect.Array:
		return '['
	}
	return 0
}

func kindName(k byte) string {
	if k == '[' {
		return "array"
	}
	return "object"
}

// firstKind is the first non-space byte of data (Check has made sure there is one).
func firstKind(data []byte) byte {
	d := bytes.TrimLeft(data, " \t\r\n")
	if len(d) == 0 {
		return 0
	}
	return d[0]
}

// firstInvalidUTF8 is the offset of the first byte that is not part of valid UTF-8.
func firstInvalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(data)
}

// describeType words a Go type the way a JSON client thinks of it.
func describeType(t reflect.Type) string {
	switch deref(t).Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer in range"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "of another type"
}
