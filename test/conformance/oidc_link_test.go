package conformance

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/lanyard-id/lanyard/test/oidcop"
)

func TestOIDCAccountLinking(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		frank := oidcUser("frank")
		e := oidcServer(t, store, oidcOptions{users: []oidcop.User{frank}})
		existing := e.createIdentity(t, withPassword(identityBody(frank.Email), testPassword))

		b := newBrowser(t, e.Server)
		_, authURL := e.startAt(t, b, "registration", "op")
		hops := e.follow(t, b, authURL)
		_, loc := lastHop(t, hops)
		if loc == nil || withoutQuery(loc) != loginUI || loc.Query().Get("flow") == "" {
			t.Fatalf("a duplicate sign-up must go to %s?flow=<login flow>:%s", loginUI, describeHops(hops))
		}
		e.requireNoSession(t, b, "duplicate sign-up")
		e.requireCount(t, 1, "duplicate sign-up")

		f := b.flowByID(t, "login", loc.Query().Get("flow"))
		var linking *uiText
		for i, m := range f.UI.Messages {
			if m.ID == 1010016 {
				linking = &f.UI.Messages[i]
			}
		}
		if linking == nil {
			t.Fatalf("login flow messages = %s, want 1010016", asJSON(f.UI.Messages))
		}
		for _, k := range []string{"provider", "duplicate_identifier", "new_login_url", "available_credential_types", "available_providers"} {
			if _, ok := linking.Context[k]; !ok {
				t.Errorf("message 1010016 context has no %s: %s", k, asJSON(linking.Context))
			}
		}
		if linking.Context["duplicate_identifier"] != frank.Email {
			t.Errorf("duplicate_identifier = %v, want %s", linking.Context["duplicate_identifier"], frank.Email)
		}
		if types, _ := linking.Context["available_credential_types"].([]any); !slices.Contains(types, any("password")) {
			t.Errorf("available_credential_types = %v, want password among them", linking.Context["available_credential_types"])
		}
		id := f.node(t, "identifier")
		if id.inputType() != "hidden" || id.value() != frank.Email {
			t.Errorf("identifier node type %q value %v, want hidden %s", id.inputType(), id.value(), frank.Email)
		}
		// Kratos swaps "Sign in" (1010001) for "Sign in and link" (1010017)
		// and "Sign in with" (1010002) for 1010018, and drops the provider
		// just used; the password submit keeps its own 1010022.
		if _, ok := findNode(f, "method", "password", "submit"); !ok {
			t.Errorf("no password submit on the linking flow: %s", asJSON(f.UI.Nodes))
		}
		for _, n := range f.UI.Nodes {
			if n.Meta.Label != nil && (n.Meta.Label.ID == 1010001 || n.Meta.Label.ID == 1010002) {
				t.Errorf("node %s still labelled %d on the linking flow", n.name(), n.Meta.Label.ID)
			}
		}
		if _, ok := findNode(f, "provider", "op", ""); ok {
			t.Errorf("the provider just used is offered again: %s", asJSON(f.UI.Nodes))
		}
		if other, ok := findNode(f, "provider", "op2", "submit"); !ok || other.Meta.Label == nil || other.Meta.Label.ID != 1010018 {
			t.Errorf("provider op2 = %s, want a submit labelled 1010018", asJSON(other))
		}

		res := b.do(t, http.MethodPost, e.submitURL("login", f.ID), map[string]any{
			"method": "password", "identifier": frank.Email, "password": testPassword, "csrf_token": f.csrf(t),
		}, nil)
		if res.status != http.StatusOK {
			t.Fatalf("password login on the linking flow: %d %s", res.status, res.body)
		}
		if sess := e.sessionOf(t, b); sess.Identity.ID != existing.Id {
			t.Fatalf("signed in as %s, want the existing %s", sess.Identity.ID, existing.Id)
		}
		cred, types := e.oidcCredentialOf(t, existing.Id)
		if !reflect.DeepEqual(cred.Identifiers, []string{"op:" + frank.Subject}) || !slices.Contains(types, "password") {
			t.Errorf("after linking: oidc identifiers %v, credential types %v; want [op:%s] and the password kept", cred.Identifiers, types, frank.Subject)
		}

		later := newBrowser(t, e.Server)
		e.signInBrowser(t, later, "login", "op")
		if sess := e.sessionOf(t, later); sess.Identity.ID != existing.Id {
			t.Errorf("sign-in through op after linking: identity %s, want %s", sess.Identity.ID, existing.Id)
		}
		e.requireCount(t, 1, "linking")
	})
}

// settingsSubmit posts a JSON oidc settings body with the flow's CSRF token.
func (e *oidcEnv) settingsSubmit(t *testing.T, b *browser, f stFlow, body ory.UpdateSettingsFlowWithOidcMethod) response {
	t.Helper()
	body.CsrfToken = ory.PtrString(f.csrf(t))
	return b.do(t, http.MethodPost, e.submitURL("settings", f.ID), body, nil)
}

func TestOIDCSettingsLinkAndUnlink(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		gina, gina2 := oidcUser("gina"), oidcUser("gina-at-op2")
		e := oidcServer(t, store, oidcOptions{users: []oidcop.User{gina, gina2}})
		e.op.SetUser(gina.Subject)
		e.op2.SetUser(gina2.Subject)

		b := newBrowser(t, e.Server)
		e.signInBrowser(t, b, "registration", "op")
		identityID := e.sessionOf(t, b).Identity.ID

		f := stBrowserSettings(t, b, nil)
		link, ok := findNode(f.flowView, "link", "op2", "submit")
		if !ok {
			t.Fatalf("no link submit for op2 in %s", asJSON(f.UI.Nodes))
		}
		if link.Group != "oidc" || link.Meta.Label == nil || link.Meta.Label.ID != 1050002 || link.Meta.Label.Context["provider"] == nil {
			t.Errorf("link op2 node = %s, want group oidc, label 1050002 with context provider", asJSON(link))
		}
		if _, ok := findNode(f.flowView, "link", "op", ""); ok {
			t.Errorf("the linked provider op is offered for linking: %s", asJSON(f.UI.Nodes))
		}
		if _, ok := findNode(f.flowView, "unlink", "op", ""); ok {
			t.Errorf("unlink op is offered although it is the only way to sign in: %s", asJSON(f.UI.Nodes))
		}

		authURL := requireLocationChange(t, e.settingsSubmit(t, b, f, ory.UpdateSettingsFlowWithOidcMethod{
			Method: "oidc", Link: ory.PtrString("op2"),
		}), "link op2")
		if !strings.HasPrefix(authURL, e.op2.Endpoints().Authorization) {
			t.Fatalf("link redirects to %s, want op2's authorize endpoint %s", authURL, e.op2.Endpoints().Authorization)
		}
		hops := e.follow(t, b, authURL)
		if _, loc := lastHop(t, hops); loc == nil || withoutQuery(loc) != stSettingsUI || loc.Query().Get("flow") != f.ID {
			t.Fatalf("linking must end at %s?flow=%s:%s", stSettingsUI, f.ID, describeHops(hops))
		}
		cred, _ := e.oidcCredentialOf(t, identityID)
		if !stSameSet(cred.Identifiers, []string{"op:" + gina.Subject, "op2:" + gina2.Subject}) || len(cred.Config.Providers) != 2 {
			t.Fatalf("after linking op2: identifiers %v, providers %s", cred.Identifiers, asJSON(cred.Config.Providers))
		}
		e.requireCount(t, 1, "linking op2")

		f = stBrowserSettings(t, b, nil)
		unlink, ok := findNode(f.flowView, "unlink", "op2", "submit")
		if !ok || unlink.Meta.Label == nil || unlink.Meta.Label.ID != 1050003 {
			t.Fatalf("unlink op2 node = %s, want a submit labelled 1050003 in %s", asJSON(unlink), asJSON(f.UI.Nodes))
		}
		res := e.settingsSubmit(t, b, f, ory.UpdateSettingsFlowWithOidcMethod{Method: "oidc", Unlink: ory.PtrString("op2")})
		if res.status != http.StatusOK {
			t.Fatalf("unlink op2: %d %s", res.status, res.body)
		}
		stRequireSuccess(t, stDecodeFlow(t, res.body))
		cred, _ = e.oidcCredentialOf(t, identityID)
		if !reflect.DeepEqual(cred.Identifiers, []string{"op:" + gina.Subject}) {
			t.Errorf("after unlinking op2: identifiers %v, want [op:%s]", cred.Identifiers, gina.Subject)
		}

		f = stBrowserSettings(t, b, nil)
		if _, ok := findNode(f.flowView, "unlink", "op", ""); ok {
			t.Errorf("unlink op is offered although it is the only way to sign in: %s", asJSON(f.UI.Nodes))
		}
		res = e.settingsSubmit(t, b, f, ory.UpdateSettingsFlowWithOidcMethod{Method: "oidc", Unlink: ory.PtrString("op")})
		if res.status != http.StatusBadRequest {
			t.Fatalf("unlinking the last way in: %d, want 400: %s", res.status, res.body)
		}
		requireFlowMessage(t, stDecodeFlow(t, res.body).flowView, 4000001)
		cred, _ = e.oidcCredentialOf(t, identityID)
		if !reflect.DeepEqual(cred.Identifiers, []string{"op:" + gina.Subject}) {
			t.Errorf("a refused unlink changed the identifiers to %v", cred.Identifiers)
		}
		// Still signs in through op.
		e.signInBrowser(t, newBrowser(t, e.Server), "login", "op")
	})
}
