package oidc

import (
	"encoding/base64"
	"testing"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/flow"
)

func TestStateNamesTheFlowAndProvesTheSecret(t *testing.T) {
	id := uuid.New()
	state, digest := newState(id)
	got, secret, ok := parseState(state)
	if !ok || got != id {
		t.Fatalf("parseState(%q) = %v, %t", state, got, ok)
	}
	if !sameDigest(secret, digest) {
		t.Error("the state's secret does not match its digest")
	}
	other, _ := newState(id)
	_, otherSecret, _ := parseState(other)
	if sameDigest(otherSecret, digest) {
		t.Error("another state of the same flow matches the first one's digest")
	}
	for _, bad := range []string{"", "x", state + "A", state[:len(state)-2], base64.RawURLEncoding.EncodeToString(make([]byte, 47)), "!" + state[1:]} {
		if _, _, ok := parseState(bad); ok {
			t.Errorf("parseState(%q) accepted", bad)
		}
	}
}

func TestErrorCodeKeepsOnlyOAuthCodes(t *testing.T) {
	for in, want := range map[string]string{
		"access_denied":               "access_denied",
		"Temporarily_Unavailable":     "temporarily_unavailable",
		"<script>alert(1)</script>":   "error",
		"spaces are not in codes":     "error",
		string(make([]byte, 65)):      "error",
		"login_required.interaction-": "login_required.interaction-",
	} {
		if got := errorCodeOf(in); got != want {
			t.Errorf("errorCodeOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUpstreamParametersFromJSONAndForms(t *testing.T) {
	p := flow.Payload{fieldUpstream: map[string]any{"login_hint": "a@example.org", "prompt": "login", "nested": map[string]any{"x": 1}, "n": 3.0}}
	got := upstreamOf(p)
	if got["login_hint"] != "a@example.org" || got["prompt"] != "login" || len(got) != 2 {
		t.Errorf("upstreamOf = %v", got)
	}
	if got := upstreamOf(flow.Payload{fieldUpstream: "login_hint=x"}); len(got) != 0 {
		t.Errorf("a string upstream_parameters = %v, want none", got)
	}
}

func TestOverlayKeepsWhatTheFormLeavesBlank(t *testing.T) {
	traits := map[string]any{"email": "a@example.org", "name": map[string]any{"first": "Ada", "last": "Lovelace"}}
	overlay(traits, map[string]any{"email": "", "name": map[string]any{"first": "", "last": "King"}, "nickname": "ada", "age": nil})
	name := traits["name"].(map[string]any)
	if traits["email"] != "a@example.org" || name["first"] != "Ada" || name["last"] != "King" || traits["nickname"] != "ada" {
		t.Errorf("overlay = %v", traits)
	}
	if _, ok := traits["age"]; ok {
		t.Error("a null value was written")
	}
	fresh := map[string]any{}
	src := map[string]any{"name": map[string]any{"first": "Grace"}}
	overlay(fresh, src)
	fresh["name"].(map[string]any)["first"] = "changed"
	if src["name"].(map[string]any)["first"] != "Grace" {
		t.Error("overlay shares nested maps with its source")
	}
}

func TestProviderButtonsImplyTheMethod(t *testing.T) {
	m := &Method{}
	for p, want := range map[*flow.Payload]bool{
		{"provider": "google"}:                       true,
		{"link": "google"}:                           true,
		{"unlink": "google"}:                         true,
		{"provider": "google", "method": "oidc"}:     false, // named: Pick finds it by name
		{"provider": "google", "method": "password"}: false,
		{"identifier": "a@example.org"}:              false,
	} {
		if got := m.Implies(*p); got != want {
			t.Errorf("Implies(%v) = %t, want %t", *p, got, want)
		}
	}
}
