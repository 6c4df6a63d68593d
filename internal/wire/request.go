package wire

import (
	"mime"
	"net/http"
	"strings"
)

// Methods lists every HTTP method, for endpoints that answer them all.
var Methods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace,
}

// WantsJSON reports whether the caller wants JSON answers rather than
// redirects: it accepts application/json, or sent a JSON body.
func WantsJSON(r *http.Request) bool {
	if IsJSONBody(r) {
		return true
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
		if mt == "application/json" {
			return true
		}
	}
	return false
}

// IsJSONBody reports whether the request body is declared as JSON.
func IsJSONBody(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}
