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
