package api

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/cloudmarket/orders/internal/strictjson"
)

// bind decodes the body conform checked into dst: strict types (1.5 or "1" for an integer is
// refused, int64 ranges are exact), exact member names. A request without a body leaves dst
// as it is, so actions whose body is optional take the zero value.
func (s *server) bind(c echo.Context, dst any) error {
	body, _ := c.Get(ctxBody).([]byte)
	if body == nil {
		return nil
	}
	if e := strictjson.Decode(body, dst); e != nil {
		return jsonProblem(e)
	}
	return nil
}

// ctxMaxBody is where an operation with its own body limit leaves it for readBody.
const ctxMaxBody = "api.maxBody"

// readBody reads the whole body, refusing more than maxBody bytes whether or not the client
// declared a Content-Length. A body that does not arrive within the server's read timeout
// is 408: a slow client holds a connection, never a worker.
func (s *server) readBody(c echo.Context) ([]byte, *Problem) {
	r := c.Request()
	limit := s.maxBody
	if n, ok := c.Get(ctxMaxBody).(int64); ok && n > 0 {
		limit = n
	}
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.As(err, &mbe):
			return nil, tooLarge(limit)
		case errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
			p := newProblem(http.StatusRequestTimeout, CodeRequestTimeout, "the request body did not arrive in time")
			p.cause = err
			return nil, p
		}
		p := newProblem(http.StatusBadRequest, CodeInvalidJSON, "could not read the request body")
		p.cause = err
		return nil, p
	}
	return body, nil
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
