package conformance

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/lanyard-id/lanyard/test/oidcop"
)

// fedcmParameters is the wire answer of GET /self-service/fed-cm/parameters.
type fedcmParameters struct {
	Providers []struct {
		ConfigURL string `json:"config_url"`
		ClientID  string `json:"client_id"`
		Nonce     string `json:"nonce"`
	} `json:"providers"`
	CSRFToken string `json:"csrf_token"`
}

// fedcmStart asks for the FedCM parameters in the browser and requires
// exactly provider op's.
func (e *oidcEnv) fedcmStart(t *testing.T, b *browser) fedcmParameters {
	t.Helper()
	res := b.do(t, http.MethodGet, e.PublicURL+"/self-service/fed-cm/parameters", nil, jsonAccept)
	if res.status != http.StatusOK {
		t.Fatalf("GET fed-cm/parameters: %d, want 200: %s", res.status, res.body)
	}
	var p fedcmParameters
	if err := json.Unmarshal(res.body, &p); err != nil {
		t.Fatalf("fed-cm/parameters body: %v: %s", err, res.body)
	}
	var sdk ory.CreateFedcmFlowResponse
	if err := json.Unmarshal(res.body, &sdk); err != nil {
		t.Errorf("the SDK cannot read fed-cm/parameters: %v: %s", err, res.body)
	}
	if len(p.Providers) != 1 || p.Providers[0].ConfigURL != oidcFedCMConfigURL || p.Providers[0].ClientID != "c1" || p.Providers[0].Nonce == "" {
		t.Fatalf("providers = %s, want only op's {config_url %s, client_id c1, nonce}", asJSON(p.Providers), oidcFedCMConfigURL)
	}
	if p.CSRFToken == "" {
		t.Fatalf("no csrf_token: %s", res.body)
	}
	return p
}

func (e *oidcEnv) fedcmToken(t *testing.T, b *browser, token, csrf, nonce string) response {
	t.Helper()
	return b.do(t, http.MethodPost, e.PublicURL+"/self-service/fed-cm/token", ory.UpdateFedcmFlowBody{
		Token: token, CsrfToken: csrf, Nonce: ory.PtrString(nonce),
	}, nil)
}

// dropSessionCookie forgets the browser's session, keeping its other cookies.
func dropSessionCookie(t *testing.T, b *browser) {
	t.Helper()
	u, _ := url.Parse(b.s.PublicURL + "/")
	c := b.cookie("ory_kratos_session")
	if c == nil {
		return
	}
	b.jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Path: "/", MaxAge: -1}})
	if b.cookie("ory_kratos_session") != nil {
		t.Fatal("the session cookie could not be dropped")
	}
}

func TestOIDCFedCM(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		lea, mia, ned := oidcUser("lea"), oidcUser("mia"), oidcUser("ned")
		e := oidcServer(t, store, oidcOptions{users: []oidcop.User{lea, mia, ned}, fedcm: true})

		b := newBrowser(t, e.Server)
		p := e.fedcmStart(t, b)
		nonce := p.Providers[0].Nonce
		res := e.fedcmToken(t, b, e.op.IDToken(t, "c1", lea.Subject, nonce), p.CSRFToken, nonce)
		if res.status != http.StatusOK {
			t.Fatalf("POST fed-cm/token: %d, want 200: %s", res.status, res.body)
		}
		var ok struct {
			Session *ory.Session `json:"session"`
		}
		if err := json.Unmarshal(res.body, &ok); err != nil || ok.Session == nil {
			t.Fatalf("fed-cm/token answered no session: %s", res.body)
		}
		if setCookie(res, "ory_kratos_session") == nil {
			t.Error("fed-cm/token set no session cookie")
		}
		sess := e.sessionOf(t, b)
		if sess.Identity.Traits["email"] != lea.Email || sess.Identity.ID != ok.Session.Identity.Id {
			t.Errorf("whoami identity %s traits %v, want lea's from the answer", sess.Identity.ID, sess.Identity.Traits)
		}
		if len(sess.AMR) == 0 || sess.AMR[0].Method != "oidc" || sess.AMR[0].Provider != "op" {
			t.Errorf("authentication_methods = %s, want oidc through op", asJSON(sess.AMR))
		}
		e.requireCount(t, 1, "FedCM sign-up")

		t.Run("the same nonce again", func(t *testing.T) {
			dropSessionCookie(t, b)
			res := e.fedcmToken(t, b, e.op.IDToken(t, "c1", mia.Subject, nonce), p.CSRFToken, nonce)
			requireError(t, res.status, res.body, 0)
			e.requireNoSession(t, b, "a spent nonce")
			e.requireCount(t, 1, "a spent nonce")
		})

		t.Run("a token with another nonce", func(t *testing.T) {
			other := newBrowser(t, e.Server)
			p := e.fedcmStart(t, other)
			issued := p.Providers[0].Nonce
			res := e.fedcmToken(t, other, e.op.IDToken(t, "c1", ned.Subject, rand.Text()), p.CSRFToken, issued)
			requireError(t, res.status, res.body, 0)
			if setCookie(res, "ory_kratos_session") != nil {
				t.Error("a refused token set a session cookie")
			}
			// Nor does a nonce the server never issued pass when the body agrees with the token.
			forged := rand.Text()
			res = e.fedcmToken(t, other, e.op.IDToken(t, "c1", ned.Subject, forged), p.CSRFToken, forged)
			requireError(t, res.status, res.body, 0)
			e.requireNoSession(t, other, "another nonce")
			e.requireCount(t, 1, "another nonce")
		})
	})
}
