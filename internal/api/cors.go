package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/lanyard-id/lanyard/internal/config"
)

// cors answers cross-origin requests as serve.<listener>.cors configures,
// so that single-page UIs on another origin can call the API with cookies.
// Origins may hold one "*" wildcard, e.g. "https://*.example.com".
func cors(c config.CORS, next http.Handler) http.Handler {
	if !c.Enabled {
		return next
	}
	methods := strings.Join(c.AllowedMethods, ", ")
	headers := strings.Join(c.AllowedHeaders, ", ")
	exposed := strings.Join(c.ExposedHeaders, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin == "" || !originAllowed(c.AllowedOrigins, origin) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		// With credentials the origin must be echoed, never "*".
		h.Set("Access-Control-Allow-Origin", origin)
		if c.AllowCredentials {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", methods)
			h.Set("Access-Control-Allow-Headers", headers)
			if c.MaxAge > 0 {
				h.Set("Access-Control-Max-Age", strconv.Itoa(c.MaxAge))
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if exposed != "" {
			h.Set("Access-Control-Expose-Headers", exposed)
		}
		next.ServeHTTP(w, r)
	})
}

func originAllowed(allowed []string, origin string) bool {
	for _, a := range allowed {
		if a == "*" || strings.EqualFold(a, origin) {
			return true
		}
		if prefix, suffix, ok := strings.Cut(a, "*"); ok &&
			len(origin) > len(prefix)+len(suffix) &&
			strings.HasPrefix(strings.ToLower(origin), strings.ToLower(prefix)) &&
			strings.HasSuffix(strings.ToLower(origin), strings.ToLower(suffix)) {
			return true
		}
	}
	return false
}
