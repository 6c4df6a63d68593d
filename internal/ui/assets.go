package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"mime"
	"net/http"
	"path"
	"time"
)

//go:embed assets/*
var assetFS embed.FS

// asset is an embedded file with the version that names it in URLs.
type asset struct {
	body    []byte
	version string
	ctype   string
}

var assets = loadAssets()

func loadAssets() map[string]asset {
	entries, err := assetFS.ReadDir("assets")
	if err != nil {
		panic(err)
	}
	out := map[string]asset{}
	for _, e := range entries {
		body, err := assetFS.ReadFile("assets/" + e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(body)
		ctype := mime.TypeByExtension(path.Ext(e.Name()))
		switch path.Ext(e.Name()) {
		case ".css":
			ctype = "text/css; charset=utf-8"
		case ".js":
			ctype = "text/javascript; charset=utf-8"
		}
		out[e.Name()] = asset{body: body, version: hex.EncodeToString(sum[:8]), ctype: ctype}
	}
	return out
}

// assetURL is where pages load the asset name: versioned by its content,
// so that it may be cached for good.
func assetURL(publicURL, name string) string {
	return publicURL + "ui/assets/" + name + "?v=" + assets[name].version
}

// serveAsset answers GET /ui/assets/{name}. The current version may be
// cached for a year; any other request revalidates by ETag.
func serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := assets[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", `"`+a.version+`"`)
	if r.URL.Query().Get("v") == a.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, no-cache")
	}
	http.ServeContent(w, r, r.PathValue("name"), time.Time{}, bytes.NewReader(a.body))
}
