// Package wire is how every Lanyard endpoint reads requests and answers:
// JSON and form bodies with size limits, JSON responses, and errors in the
// generic error shape of the Kratos API,
// {"error": {"id", "code", "status", "reason", "message", "details"}}.
package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// Error is an API error. The zero ID means the error has no Kratos id.
type Error struct {
	ID      string         `json:"id,omitempty"`
	Code    int            `json:"code"`
	Status  string         `json:"status"`
	Reason  string         `json:"reason,omitempty"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
	// Request is an optional request id, echoed for support.
	Request string `json:"request,omitempty"`

	cause error
}

func (e *Error) Error() string {
	if e.Reason != "" {
		return e.Message + ": " + e.Reason
	}
	return e.Message
}

// Unwrap exposes the underlying error, if any.
func (e *Error) Unwrap() error { return e.cause }

// WithReason returns a copy with the reason set.
func (e *Error) WithReason(format string, args ...any) *Error {
	c := *e
	c.Reason = fmt.Sprintf(format, args...)
	return &c
}

// WithID returns a copy with the Kratos error id set.
func (e *Error) WithID(id string) *Error {
	c := *e
	c.ID = id
	return &c
}

// WithDetail returns a copy with one more detail.
func (e *Error) WithDetail(key string, value any) *Error {
	c := *e
	c.Details = make(map[string]any, len(e.Details)+1)
	for k, v := range e.Details {
		c.Details[k] = v
	}
	c.Details[key] = value
	return &c
}

// WithCause returns a copy that wraps cause (never shown to clients).
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

func newError(code int, message string) *Error {
	return &Error{Code: code, Status: http.StatusText(code), Message: message}
}

// The base errors; derive specific ones with WithReason/WithID.
var (
	BadRequest       = newError(http.StatusBadRequest, "The request was malformed or contained invalid parameters.")
	Unauthorized     = newError(http.StatusUnauthorized, "The request could not be authorized.")
	Forbidden        = newError(http.StatusForbidden, "The requested action was forbidden.")
	NotFound         = newError(http.StatusNotFound, "The requested resource could not be found.")
	MethodNotAllowed = newError(http.StatusMethodNotAllowed, "The request method is not supported for this resource.")
	Conflict         = newError(http.StatusConflict, "The resource could not be created due to a conflict.")
	Gone             = newError(http.StatusGone, "The requested resource is no longer available.")
	TooLarge         = newError(http.StatusRequestEntityTooLarge, "The request body is too large.")
	Unsupported      = newError(http.StatusUnsupportedMediaType, "The request body has an unsupported content type.")
	Unprocessable    = newError(http.StatusUnprocessableEntity, "The request was well-formed but could not be followed.")
	Internal         = newError(http.StatusInternalServerError, "An internal server error occurred. Please contact the administrator.")
	Unavailable      = newError(http.StatusServiceUnavailable, "The service is not available right now.")
)

// From turns any error into an *Error; unknown errors become Internal.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return TooLarge.WithReason("The request body must not be larger than %d bytes.", tooLarge.Limit).WithCause(err)
	}
	return Internal.WithCause(err)
}

// WriteError answers with err in the error shape. Server-side errors are logged
// with their cause; the client sees only the generic text. A failure
// because the client went away is no server error: it is logged at info
// and answered (to nobody) with 499, as nginx records it.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	e := From(err)
	if e.Code >= 500 && ClientGone(r, err) {
		logClientGone(r, err)
		WriteJSON(w, StatusClientClosedRequest, map[string]any{"error": clientClosed})
		return
	}
	if e.Code >= 500 {
		LogServerError(r, err)
	}
	// Some details also travel at the top level, where the SDK's
	// ErrorBrowserLocationChangeRequired and SelfServiceFlowExpiredError
	// models read them.
	body := map[string]any{"error": e}
	for _, key := range topLevelDetails {
		if v, ok := e.Details[key]; ok {
			body[key] = v
		}
	}
	WriteJSON(w, e.Code, body)
}

var topLevelDetails = []string{"redirect_browser_to", "use_flow_id", "expired_at", "since"}

// StatusClientClosedRequest is nginx's non-standard status for a request
// whose client closed the connection before the answer.
const StatusClientClosedRequest = 499

var clientClosed = &Error{Code: StatusClientClosedRequest, Status: "Client Closed Request",
	Message: "The client closed the request before the server could answer."}

// ClientGone reports whether err is the result of the client going away:
// the request's context is done (net/http cancels it when the connection
// closes), or err is a cancellation.
func ClientGone(r *http.Request, err error) bool {
	return r.Context().Err() != nil || errors.Is(err, context.Canceled)
}

// LogServerError logs a server-side failure with its cause (never the
// query string, which can carry tokens); one caused by the client going
// away is logged at info, as what it is.
func LogServerError(r *http.Request, err error) {
	if ClientGone(r, err) {
		logClientGone(r, err)
		return
	}
	slog.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
}

func logClientGone(r *http.Request, err error) {
	slog.InfoContext(r.Context(), "client went away", "method", r.Method, "path", r.URL.Path, "status", StatusClientClosedRequest, "error", err)
}

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		body = []byte(`{"error":{"code":500,"status":"Internal Server Error","message":"The response could not be encoded."}}`)
	}
	WriteJSONBytes(w, code, body)
}

// WriteJSONBytes writes body, already JSON, as WriteJSON would.
func WriteJSONBytes(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
