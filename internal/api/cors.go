package api

import (
	"net/http"

	rscors "github.com/rs/cors"

	"github.com/lanyard-id/lanyard/internal/config"
)

// cors answers cross-origin requests as serve.public.cors configures, with
// github.com/rs/cors as Kratos does (origins may hold one "*" wildcard, e.g.
// "https://*.example.com"; preflights are answered and end there).
//
// Origins allowed by name or pattern are echoed, with credentials when
// allow_credentials is on. An origin allowed only through "*" is answered
// with a literal "*" and never with credentials: otherwise any web site
// could read a signed-in user's responses (rs/cors on its own would send
// "Access-Control-Allow-Credentials: true" next to "*").
func cors(c config.CORS, next http.Handler) http.Handler {
	if !c.Enabled {
		return next
	}
	var named []string
	// rs/cors, like Kratos, reads an empty list as "every origin".
	anyOrigin := len(c.AllowedOrigins) == 0
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			anyOrigin = true
		} else {
			named = append(named, o)
		}
	}
	options := func(origins []string, credentials bool) rscors.Options {
		return rscors.Options{
			AllowedOrigins:   origins,
			AllowedMethods:   c.AllowedMethods,
			AllowedHeaders:   c.AllowedHeaders,
			ExposedHeaders:   c.ExposedHeaders,
			AllowCredentials: credentials,
			MaxAge:           c.MaxAge,
		}
	}

	var wildcard http.Handler
	if anyOrigin {
		wildcard = rscors.New(options([]string{"*"}, false)).Handler(next)
	}
	if len(named) == 0 {
		return wildcard
	}
	byName := rscors.New(options(named, c.AllowCredentials))
	echoed := byName.Handler(next)
	if wildcard == nil {
		return echoed
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" && byName.OriginAllowed(r) {
			echoed.ServeHTTP(w, r)
			return
		}
		wildcard.ServeHTTP(w, r)
	})
}
