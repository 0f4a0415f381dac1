package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// decodeBody reads the request body into dst strictly: application/json only, at most
// maxBody bytes, exactly one JSON object, no unknown, duplicate or differently-cased keys,
// and every value of the Go type of its field (so 1.5 or "1" for an integer is refused
// instead of being truncated or coerced). Every refusal names the JSON path it is about.
func (s *server) decodeBody(c echo.Context, dst any) error {
	if err := checkJSONContentType(c.Request().Header.Get(echo.HeaderContentType)); err != nil {
		return err
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	if p := decodeJSON(body, dst); p != nil {
		return p
	}
	return nil
}

// readBody reads the whole body, refusing more than maxBody bytes whether or not the client
// declared a Content-Length.
func (s *server) readBody(c echo.Context) ([]byte, error) {
	r := c.Request()
	if r.ContentLength > s.maxBody {
		return nil, tooLarge(s.maxBody)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, s.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(s.maxBody)
		}
		p := newProblem(http.StatusBadRequest, CodeInvalidJSON, "could not read the request body")
		p.cause = err
		return nil, p
	}
	return body, nil
}

// decodeOptionalEmptyBody accepts an action POST without a body (whatever its
// Content-Type: many clients always send application/json), or with an empty JSON object.
// These actions take no fields yet, and a field sent anyway is an error (strict), rather
// than something silently ignored.
func (s *server) decodeOptionalEmptyBody(c echo.Context) error {
	if c.Request().ContentLength == 0 {
		return nil
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if p := checkJSONContentType(c.Request().Header.Get(echo.HeaderContentType)); p != nil {
		return p
	}
	var none struct{}
	if p := decodeJSON(body, &none); p != nil {
		return p
	}
	return nil
}

func tooLarge(limit int64) *Problem {
	return newProblem(http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
		fmt.Sprintf("request body is larger than %d bytes", limit))
}

func checkJSONContentType(ct string) *Problem {
	bad := newProblem(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
		"Content-Type must be application/json")
	if ct == "" {
		return bad
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != echo.MIMEApplicationJSON {
		return bad
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		bad.Detail = "only the utf-8 charset is accepted"
		return bad
	}
	return nil
}

// decodeJSON is the body-independent part of decodeBody, separate so tests can call it.
// Two passes: the first walks the tokens against dst's type and refuses unknown,
// duplicate and wrongly-cased keys with their path (encoding/json matches keys
// case-insensitively and names only the key, not its path, of an unknown field); the
// second is encoding/json itself, whose UnmarshalTypeError carries the full path.
func decodeJSON(body []byte, dst any) *Problem {
	if len(bytes.TrimSpace(body)) == 0 {
		return newProblem(http.StatusBadRequest, CodeInvalidJSON, "the request body is empty; send a JSON object")
	}
	if !utf8.Valid(body) {
		return newProblem(http.StatusBadRequest, CodeInvalidJSON, "the request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return syntaxProblem(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return newProblem(http.StatusBadRequest, CodeInvalidJSON, "the request body must be a JSON object")
	}
	if p := checkObject(dec, reflect.TypeOf(dst).Elem(), ""); p != nil {
		return p
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return newProblem(http.StatusBadRequest, CodeInvalidJSON, "unexpected data after the JSON object")
	}

	dec = json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return invalidField(te.Field, "%s must be %s, got %s", te.Field, describeType(te.Type), te.Value)
		}
		p := newProblem(http.StatusBadRequest, CodeInvalidJSON, "the request body does not match the expected shape")
		p.cause = err
		return p
	}
	return nil
}

// checkObject consumes the members of an object whose '{' has been read, checking keys
// against t when t is a struct (nil t: anything goes, encoding/json reports the type).
func checkObject(dec *json.Decoder, t reflect.Type, path string) *Problem {
	var fields map[string]reflect.Type
	if t != nil && t.Kind() == reflect.Struct {
		fields = jsonFields(t)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntaxProblem(err)
		}
		key, _ := tok.(string)
		p := joinPath(path, key)
		var ft reflect.Type
		if fields != nil {
			var ok bool
			if ft, ok = fields[key]; !ok {
				return invalidField(p, "unknown field %q", p)
			}
			if seen[key] {
				return invalidField(p, "field %q is given more than once", p)
			}
			seen[key] = true
		}
		if pr := checkValue(dec, ft, p); pr != nil {
			return pr
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return syntaxProblem(err)
	}
	return nil
}

func checkValue(dec *json.Decoder, t reflect.Type, path string) *Problem {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return syntaxProblem(err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar: its type is checked by encoding/json
	}
	switch d {
	case '{':
		return checkObject(dec, t, path)
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if p := checkValue(dec, elem, path+"["+strconv.Itoa(i)+"]"); p != nil {
				return p
			}
		}
		if _, err := dec.Token(); err != nil { // ']'
			return syntaxProblem(err)
		}
	}
	return nil
}

// jsonFields maps the JSON names of t's exported fields to their types. Request types
// have no embedded structs, so no promotion rules are needed.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func syntaxProblem(err error) *Problem {
	p := newProblem(http.StatusBadRequest, CodeInvalidJSON, "malformed JSON")
	var se *json.SyntaxError
	if errors.As(err, &se) {
		p.Detail = fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, se.Error())
	} else if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		p.Detail = "malformed JSON: the body ends early"
	}
	p.cause = err
	return p
}

// describeType words a Go type the way a JSON client thinks of it.
func describeType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
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
